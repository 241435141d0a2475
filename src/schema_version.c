/*-------------------------------------------------------------------------
 *
 * schema_version.c
 *	  The library serves the schema version it was built for, and refuses
 *	  to touch the tables of any other.
 *
 * A `make install` of a new release replaces the shared library at once,
 * in every database, while each database keeps the SQL objects of the
 * version it was created or last updated with until someone runs ALTER
 * EXTENSION paycons UPDATE there.  The new library's SQL may name a table,
 * column or policy row the old schema does not have (or no longer means
 * the same), so every piece of work that reads or writes paycons's tables
 * -- it all runs through PayconsAsOwner -- first checks that
 * pg_extension.extversion is the library's version (PAYCONS_VERSION, from
 * paycons.control through the Makefile), and otherwise raises PC010 naming
 * the command to run.  What needs no table keeps working on an old schema:
 * the order_state type and its operators, can_transition, next_states,
 * is_terminal, state_graph, hmac_sha256, stats and wake.
 *
 * The extension's own scripts (CREATE EXTENSION, ALTER EXTENSION UPDATE)
 * may call anything: the schema is in the middle of becoming the new one.
 *
 * A matching version is remembered for the rest of the session; a schema
 * dropped and created again (DROP/CREATE EXTENSION, perhaps of an older
 * VERSION) makes the next call look again.
 *
 * IDENTIFICATION
 *	  src/schema_version.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "errcodes.h"
#include "schema_version.h"

#ifndef PAYCONS_VERSION
#error "PAYCONS_VERSION must be defined (the Makefile takes it from paycons.control)"
#endif

static bool version_ok = false;
static bool version_callback_registered = false;

/* A schema was dropped or created: look at the version again. */
static void
version_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	version_ok = false;
}

/*
 * The installed version of paycons in this database (palloc'd), and the
 * extension's OID in *extoid; NULL if it is not installed.
 */
static char *
version_installed(Oid *extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("paycons"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		*extoid = ((Form_pg_extension) GETSTRUCT(tup))->oid;
		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Raise PC010 unless the paycons schema of this database is the version
 * this library was built for (or its own script is running).  Cheap after
 * the first success in a session.
 */
void
PayconsCheckSchemaVersion(void)
{
	char	   *installed;
	Oid			extoid = InvalidOid;

	if (version_ok)
		return;
	if (!version_callback_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, version_invalidate, (Datum) 0);
		version_callback_registered = true;
	}

	installed = version_installed(&extoid);
	if (installed == NULL)
		return;					/* not installed: the lookups that follow say so */
	if (creating_extension && CurrentExtensionObject == extoid)
		return;					/* our own script is running: not remembered */
	if (strcmp(installed, PAYCONS_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_SCHEMA_VERSION),
				 errmsg("extension \"paycons\" is at version %s in this database, but its library is version %s",
						installed, PAYCONS_VERSION),
				 errdetail("The paycons shared library was replaced by a new release; the extension's tables and functions in database \"%s\" are still those of version %s.",
						   get_database_name(MyDatabaseId), installed),
				 errhint("Run ALTER EXTENSION paycons UPDATE in this database (as the extension's owner).")));
	version_ok = true;
}
