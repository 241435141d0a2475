/*-------------------------------------------------------------------------
 *
 * as_owner.c
 *	  Running the SQL API's work as the extension owner.
 *
 * Application roles hold EXECUTE on the paycons functions and no privilege
 * on its tables.  The C functions therefore do their SQL work as the owner
 * of schema paycons (the role that created the extension), as ri_triggers.c
 * does for foreign-key checks.  PayconsAsOwner is the one place that does
 * it, the way fmgr_security_definer runs a SECURITY DEFINER function with
 * SET clauses:
 *
 *	- the user is switched to the owner, and the operation is
 *	  security-restricted (SECURITY_RESTRICTED_OPERATION), so that nothing
 *	  run under it can change the session for the caller afterwards;
 *	- search_path is pinned to "pg_catalog, paycons, pg_temp" in a GUC nest
 *	  level of its own, so no object of the caller's schemas can be reached
 *	  by an unqualified name (our SQL qualifies everything as well);
 *	- SPI is connected around the work and finished after it;
 *	- before all that, the installed schema must be the library's version
 *	  (schema_version.c): the work's SQL is written for it.
 *
 * On the error path the transaction (or subtransaction) abort restores the
 * user, the security context and the GUC nest level, as it does for a
 * SECURITY DEFINER function; only our own statics are restored here.
 *
 * While the owner runs the work, the caller's role and the reason given to
 * the API are remembered, so the guard trigger records who really asked
 * for a change.  Calls nest: the outermost caller stays the actor.
 *
 * IDENTIFICATION
 *	  src/as_owner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "as_owner.h"
#include "paycons.h"
#include "schema_version.h"

static Oid	owner_schema_oid = InvalidOid;
static Oid	owner_role_oid = InvalidOid;
static bool owner_callback_registered = false;

/* The caller and the reason of the API call under way, if any */
static Oid	owner_actor = InvalidOid;
static const char *owner_reason = NULL;

/* The outermost caller's search_path, while owner work runs (else NULL) */
static char *owner_caller_path = NULL;

/* Forget the cached schema and owner when pg_namespace changes. */
static void
owner_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	owner_schema_oid = InvalidOid;
	owner_role_oid = InvalidOid;
}

static void
owner_lookup(void)
{
	HeapTuple	tup;

	if (OidIsValid(owner_schema_oid))
		return;

	if (!owner_callback_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, owner_invalidate, (Datum) 0);
		owner_callback_registered = true;
	}

	owner_schema_oid = get_namespace_oid("paycons", false);
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(owner_schema_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", owner_schema_oid);
	owner_role_oid = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
}

/* OID of the extension owner (the owner of schema paycons) */
Oid
PayconsOwnerOid(void)
{
	owner_lookup();
	return owner_role_oid;
}

/* OID of schema paycons */
Oid
PayconsSchemaOid(void)
{
	owner_lookup();
	return owner_schema_oid;
}

/* The OID of relation paycons.<relname>, which must exist */
Oid
PayconsRelid(const char *relname)
{
	Oid			relid = get_relname_relid(relname, PayconsSchemaOid());

	if (!OidIsValid(relid))
		elog(ERROR, "relation paycons.%s does not exist", relname);
	return relid;
}

/*
 * Run work(arg, caller) as the extension owner, restricted, with
 * search_path pinned, connected to SPI.  "reason" (may be NULL: keep the
 * enclosing one) is what the guard trigger writes into order_history for
 * changes made by the work.
 */
void
PayconsAsOwner(const char *reason, PayconsOwnerWork work, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec_context;
	Oid			prev_actor = owner_actor;
	const char *prev_reason = owner_reason;
	char	   *prev_caller_path = owner_caller_path;
	volatile int save_nestlevel = -1;

	PayconsCheckSchemaVersion();
	owner_lookup();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	if (!OidIsValid(owner_actor))
	{
		owner_actor = save_userid;
		owner_caller_path = pstrdup(namespace_search_path ? namespace_search_path : "");
	}
	if (reason != NULL)
		owner_reason = reason;

	SetUserIdAndSecContext(owner_role_oid,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	/* a nested call finds the path pinned already */
	if (namespace_search_path == NULL ||
		strcmp(namespace_search_path, PAYCONS_PINNED_SEARCH_PATH) != 0)
	{
		save_nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", PAYCONS_PINNED_SEARCH_PATH,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	}

	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		work(arg, caller);
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		owner_actor = prev_actor;
		owner_reason = prev_reason;
		owner_caller_path = prev_caller_path;
	}
	PG_END_TRY();

	if (save_nestlevel >= 0)
		AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * The search_path of the outermost caller of PayconsAsOwner, for user code
 * that paycons calls back as the user's own role (a compensation handler):
 * such code runs with the path its caller had, never with the owner's.
 * NULL outside owner work.
 */
const char *
PayconsCallerSearchPath(void)
{
	return owner_caller_path;
}

/* The role on whose behalf a change is made: the API caller, or the user. */
Oid
PayconsActor(void)
{
	return OidIsValid(owner_actor) ? owner_actor : GetUserId();
}

/*
 * The reason recorded with a state change: the API's argument, else the
 * paycons.reason setting (for hand-made changes), else NULL.
 */
const char *
PayconsReason(void)
{
	if (owner_reason != NULL)
		return owner_reason;
	if (paycons_reason_guc != NULL && paycons_reason_guc[0] != '\0')
		return paycons_reason_guc;
	return NULL;
}
