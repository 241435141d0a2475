/*-------------------------------------------------------------------------
 *
 * provenance.c
 *	  Every outbox event says who caused it: its headers carry
 *
 *		"paycons": {"via": "trigger", "table": "public.items", "role": "app"}
 *
 *	  for an event of paycons.outbox_trigger() (the table it fired on), and
 *
 *		"paycons": {"via": "emit", "role": "app"}
 *
 *	  for one written by paycons.emit().  "role" is the role on whose behalf
 *	  the change was made: the caller of the paycons API call under way
 *	  (PayconsActor()), not the extension owner that writes the row.  The
 *	  key is paycons's: emit() refuses headers that set it.
 *
 * IDENTIFICATION
 *	  src/provenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "as_owner.h"
#include "provenance.h"

/*
 * The origin header of an event caused now: by the outbox trigger on rel,
 * or (rel NULL) by emit().
 */
Jsonb *
PayconsEventOrigin(Relation rel)
{
	StringInfoData buf;
	Jsonb	   *result;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"" PAYCONS_ORIGIN_HEADER "\": {\"via\": ");
	if (rel != NULL)
	{
		appendStringInfoString(&buf, "\"trigger\", \"table\": ");
		escape_json(&buf,
					quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel)));
	}
	else
		appendStringInfoString(&buf, "\"emit\"");
	appendStringInfoString(&buf, ", \"role\": ");
	escape_json(&buf, GetUserNameFromId(PayconsActor(), false));
	appendStringInfoString(&buf, "}}");

	result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(buf.data)));
	pfree(buf.data);
	return result;
}

/*
 * headers (a JSON object, or NULL) with the origin header added.  The
 * caller has checked that headers do not set it already.
 */
Jsonb *
PayconsAddEventOrigin(Jsonb *headers, Relation rel)
{
	Jsonb	   *origin = PayconsEventOrigin(rel);

	if (headers == NULL)
		return origin;
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(headers),
											  JsonbPGetDatum(origin)));
}
