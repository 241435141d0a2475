/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  The restore rule: a row that the extension owner's COPY ... FROM STDIN
 *	  writes into a paycons table is a stored row coming back, not a change.
 *
 * pg_dump writes the data of paycons's tables (extension configuration
 * tables) as "COPY paycons.<table> (...) FROM stdin;", and pg_restore or
 * psql load it into a database where CREATE EXTENSION paycons has already
 * made the tables and their triggers.  Those triggers must let the stored
 * rows in as they are: the guard accepts an order in any state (it was
 * legal when it was written) and leaves it untouched, and the hub triggers
 * write nothing (the history rows, outbox events and compensations they
 * would write are in the dump already).  A restored row whose key a fresh
 * CREATE EXTENSION already wrote (a built-in retry policy, the outbox
 * rotation row) replaces that row (paycons.restore_replace(), in SQL).
 *
 * A row is being restored when all of these hold:
 *	- the statement the client sent (the active portal) is one COPY ... FROM
 *	  STDIN;
 *	- the client named its target schema-qualified, "paycons.<name>" (as
 *	  pg_dump always does), and <name> is the relation the trigger fires on:
 *	  a write that some trigger makes into another table during a COPY is
 *	  an ordinary write;
 *	- the relation lives in schema paycons;
 *	- the current user has the privileges of the extension owner, who could
 *	  disable the triggers anyway.  Anyone else's COPY is checked as usual.
 *
 * Everything else is an ordinary change: an INSERT or UPDATE by anyone
 * (the owner included), a COPY by another role, a COPY into a user's own
 * table (even one guarded by paycons.order_guard()), a COPY run from inside
 * a function.  With session_replication_role = replica or pg_restore
 * --disable-triggers the triggers do not fire at all; see doc/operations.md.
 *
 * IDENTIFICATION
 *	  src/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/rel.h"

#include "as_owner.h"
#include "restore.h"

PG_FUNCTION_INFO_V1(paycons_restoring);

/*
 * The COPY ... FROM STDIN statement the client is running, or NULL if the
 * client's statement is anything else.
 */
static CopyStmt *
restore_client_copy(void)
{
	PlannedStmt *pstmt;
	CopyStmt   *copy;

	if (ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY ||
		list_length(ActivePortal->stmts) != 1)
		return NULL;
	pstmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (pstmt->commandType != CMD_UTILITY || pstmt->utilityStmt == NULL ||
		!IsA(pstmt->utilityStmt, CopyStmt))
		return NULL;
	copy = (CopyStmt *) pstmt->utilityStmt;
	if (!copy->is_from || copy->is_program || copy->filename != NULL ||
		copy->relation == NULL)
		return NULL;
	return copy;
}

/* The restore rule for the relation relname in namespace relnamespace. */
static bool
restore_check(Oid relnamespace, const char *relname)
{
	CopyStmt   *copy = restore_client_copy();
	RangeVar   *target;

	if (copy == NULL)
		return false;			/* the common case: no COPY under way */
	target = copy->relation;
	if (target->schemaname == NULL ||
		strcmp(target->schemaname, "paycons") != 0 ||
		strcmp(target->relname, relname) != 0)
		return false;
	if (target->catalogname != NULL &&
		strcmp(target->catalogname, get_database_name(MyDatabaseId)) != 0)
		return false;
	if (relnamespace != PayconsSchemaOid())
		return false;
	return has_privs_of_role(GetUserId(), PayconsOwnerOid());
}

/*
 * Is the row that fires a trigger on rel being restored?  See the file
 * header; false for anything but the owner's COPY paycons.<rel> FROM STDIN.
 */
bool
PayconsRestoring(Relation rel)
{
	return restore_check(RelationGetNamespace(rel), RelationGetRelationName(rel));
}

/*
 * paycons.restoring(rel regclass) -> boolean: the same rule for the SQL
 * triggers (paycons.callbacks_complete_refund, paycons.restore_replace).
 */
Datum
paycons_restoring(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(restore_check(get_rel_namespace(relid), relname));
}
