/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  Running the SQL API's work as the extension owner.
 *
 * Application roles hold EXECUTE on the paycons functions and no privilege
 * on its tables.  The C functions therefore switch to the owner of schema
 * paycons (the role that created the extension) for their SPI work, as
 * ri_triggers.c does for foreign-key checks, and switch back afterwards.
 * While switched, the caller's role and the reason given to the API are
 * remembered, so the guard trigger records who really asked for a change.
 *
 * IDENTIFICATION
 *	  src/owner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "paycons.h"

static Oid	owner_schema_oid = InvalidOid;
static Oid	owner_role_oid = InvalidOid;
static bool owner_callback_registered = false;

/* The caller and the reason of the API call under way, if any */
static Oid	owner_actor = InvalidOid;
static const char *owner_reason = NULL;

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

/*
 * Switch to the extension owner.  "reason" (may be NULL) is what the guard
 * trigger writes into order_history for changes made until the matching
 * PayconsRestoreUser().  Calls nest: the outermost caller stays the actor.
 */
void
PayconsBecomeOwner(PayconsOwnerState *state, const char *reason)
{
	owner_lookup();

	GetUserIdAndSecContext(&state->save_userid, &state->save_sec_context);
	state->prev_actor = owner_actor;
	state->prev_reason = owner_reason;

	if (!OidIsValid(owner_actor))
		owner_actor = state->save_userid;
	if (reason != NULL)
		owner_reason = reason;

	SetUserIdAndSecContext(owner_role_oid,
						   state->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* Undo PayconsBecomeOwner; call it on the error path too (PG_FINALLY). */
void
PayconsRestoreUser(PayconsOwnerState *state)
{
	SetUserIdAndSecContext(state->save_userid, state->save_sec_context);
	owner_actor = state->prev_actor;
	owner_reason = state->prev_reason;
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
