/*-------------------------------------------------------------------------
 *
 * statement_write.c
 *	  Parsed statement lines into paycons.statement_lines, with the file's
 *	  counts and per-currency totals.
 *
 * The lines are inserted through SQL (a kept plan, executor, constraints,
 * triggers) in batches: each batch is one INSERT ... SELECT of the arrays
 * built here, unnested.  A transaction id that is already loaded (or twice
 * in the file) makes the plain INSERT fail; written carefully, the line is
 * found and the error names both places.  The caller runs as the extension
 * owner, connected to SPI.
 *
 * IDENTIFICATION
 *	  src/statement_write.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "errcodes.h"
#include "spi_plans.h"
#include "statement_write.h"

/* Lines per INSERT */
#define STMT_BATCH			10000

/* One batch of parsed lines, as the arrays the INSERT takes */
struct StmtBatch
{
	int			n;
	Datum		txn[STMT_BATCH];
	Datum		order_id[STMT_BATCH];
	Datum		kind[STMT_BATCH];
	Datum		amount[STMT_BATCH];
	Datum		currency[STMT_BATCH];
	Datum		fee[STMT_BATCH];
	bool		fee_null[STMT_BATCH];
	Datum		fee_milli[STMT_BATCH];
	Datum		settled[STMT_BATCH];
	bool		settled_null[STMT_BATCH];
	Datum		line_no[STMT_BATCH];
	Datum		original[STMT_BATCH];
	bool		original_null[STMT_BATCH];
	Datum		merchant_refund[STMT_BATCH];
	bool		merchant_refund_null[STMT_BATCH];
	Datum		line_ref[STMT_BATCH];
	bool		line_ref_null[STMT_BATCH];
};

/*
 * The batch as rows: the arrays unnested side by side in the select list
 * (ProjectSet: row by row; ROWS FROM would first copy each array into a
 * tuplestore).  Two plans of the one INSERT: plain, which a duplicate
 * transaction id makes fail (unique violation), and careful, which skips
 * the duplicate so that it can be found and named (stmt_report_duplicate).
 */
#define STMT_INSERT_SQL \
	"INSERT INTO paycons.statement_lines" \
	" (channel, statement_date, channel_txn_id, order_id, kind, amount, currency," \
	"  fee, settled_at, fee_milli, line_no, original_txn_id, merchant_refund_id," \
	"  line_ref, file_id)" \
	" SELECT $1, $2, u.t, u.o, u.k, u.a, u.c, u.f," \
	"  pg_catalog.timezone($3, CAST(u.s AS pg_catalog.timestamp))," \
	"  u.fm, u.n, u.ot, u.mr, u.lr, $4" \
	" FROM (SELECT pg_catalog.unnest($5) AS t, pg_catalog.unnest($6) AS o," \
	"  pg_catalog.unnest($7) AS k, pg_catalog.unnest($8) AS a," \
	"  pg_catalog.unnest($9) AS c, pg_catalog.unnest($10) AS f," \
	"  pg_catalog.unnest($11) AS fm, pg_catalog.unnest($12) AS s," \
	"  pg_catalog.unnest($13) AS n, pg_catalog.unnest($14) AS ot," \
	"  pg_catalog.unnest($15) AS mr, pg_catalog.unnest($16) AS lr) u"
#define STMT_INSERT_TYPES \
	{TEXTOID, DATEOID, TEXTOID, INT8OID, \
	 TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, \
	 INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, \
	 TEXTARRAYOID, TEXTARRAYOID}

static PayconsPlan stmt_insert_plan = {
	STMT_INSERT_SQL, 16, STMT_INSERT_TYPES, 0, NULL
};

static PayconsPlan stmt_insert_careful_plan = {
	STMT_INSERT_SQL " ON CONFLICT DO NOTHING", 16, STMT_INSERT_TYPES, 0, NULL
};

static PayconsPlan stmt_find_plan = {
	"SELECT s.statement_date, s.line_no, s.file_id"
	" FROM paycons.statement_lines s"
	" WHERE s.channel OPERATOR(pg_catalog.=) $1"
	" AND s.channel_txn_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

void
StmtWriterInit(StmtWriter *w)
{
	w->batch = palloc(sizeof(StmtBatch));
	w->batch->n = 0;
	w->batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
										 "paycons statement batch",
										 ALLOCSET_DEFAULT_SIZES);
}

void
StmtWriterStart(StmtWriter *w)
{
	w->lines = w->payments = w->refunds = w->ntotals = 0;
	w->batch->n = 0;
	MemoryContextReset(w->batch_cxt);
}

static Datum
stmt_text(StmtField f)
{
	return PointerGetDatum(cstring_to_text_with_len(f.p, f.len));
}

static Datum
stmt_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int			dims[1];
	int			lbs[1];
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = n;
	lbs[0] = 1;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval,
											  typalign));
}

/* Add a line to the totals of its currency */
static void
stmt_add_total(StmtWriter *w, const StmtLine *l)
{
	StmtTotal  *t = NULL;
	int			i;
	bool		overflow;

	for (i = 0; i < w->ntotals; i++)
		if (memcmp(w->totals[i].currency, l->currency, 4) == 0)
		{
			t = &w->totals[i];
			break;
		}
	if (t == NULL)
	{
		if (w->ntotals >= (int) lengthof(w->totals))
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_STMT_TOO_LARGE),
					 errmsg("%s statement, line %ld: more than %d currencies in one file",
							StmtFormatName(w->format), l->line,
							(int) lengthof(w->totals))));
		t = &w->totals[w->ntotals++];
		memset(t, 0, sizeof(StmtTotal));
		memcpy(t->currency, l->currency, 4);
	}
	if (l->refund)
	{
		t->refunds++;
		overflow = pg_add_s64_overflow(t->refund_amount, l->amount, &t->refund_amount);
	}
	else
	{
		t->payments++;
		overflow = pg_add_s64_overflow(t->payment_amount, l->amount, &t->payment_amount);
	}
	overflow |= pg_add_s64_overflow(t->fee_milli, l->fee_milli, &t->fee_milli);
	if (overflow)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s statement, line %ld: the total of the %s amounts is out of range",
						StmtFormatName(w->format), l->line, l->currency)));
}

/*
 * A batch inserted fewer rows than it has lines: a transaction id appears
 * twice.  Find the first such line and say where the other one is.
 */
static void
stmt_report_duplicate(StmtWriter *w, StmtBatch *b)
{
	int			i;

	for (i = 0; i < b->n; i++)
	{
		Datum		values[2];
		bool		isnull;
		DateADT		date;
		Datum		line_no;
		bool		line_null;
		int64		file_id;
		bool		file_null;
		char	   *txn = TextDatumGetCString(b->txn[i]);

		values[0] = CStringGetTextDatum(w->channel);
		values[1] = b->txn[i];
		PayconsExecPlan(&stmt_find_plan, values, NULL, 1);
		if (SPI_processed == 0)
			continue;
		date = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
		line_no = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
								&line_null);
		file_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 3,
											  &file_null));
		if (!file_null && file_id == w->file_id && !line_null &&
			DatumGetInt32(line_no) == DatumGetInt32(b->line_no[i]))
			continue;			/* this very line went in */

		if (!file_null && file_id == w->file_id)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_STMT_DUPLICATE_LINE),
					 errmsg("%s statement, line %d: duplicate transaction \"%s\"",
							StmtFormatName(w->format),
							DatumGetInt32(b->line_no[i]), txn),
					 errdetail("Line %d of this file has the same transaction id.",
							   line_null ? 0 : DatumGetInt32(line_no)),
					 errhint("Nothing of this file was loaded.")));
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_DUPLICATE_LINE),
				 errmsg("%s statement, line %d: duplicate transaction \"%s\"",
						StmtFormatName(w->format),
						DatumGetInt32(b->line_no[i]), txn),
				 errdetail("The transaction is already loaded from the statement of %s of channel \"%s\".",
						   DatumGetCString(DirectFunctionCall1(date_out,
															   DateADTGetDatum(date))),
						   w->channel),
				 errhint("Nothing of this file was loaded.")));
	}
	elog(ERROR, "statement batch inserted fewer rows than it has, but no duplicate was found");
}

/* Insert the batch, then empty it */
void
StmtWriterFlush(StmtWriter *w)
{
	StmtBatch  *b = w->batch;
	Datum		values[16];
	int			n = b->n;

	if (n == 0)
		return;
	values[0] = CStringGetTextDatum(w->channel);
	values[1] = DateADTGetDatum(w->date);
	values[2] = CStringGetTextDatum(w->time_zone);
	values[3] = Int64GetDatum(w->file_id);
	values[4] = stmt_array(b->txn, NULL, n, TEXTOID);
	values[5] = stmt_array(b->order_id, NULL, n, TEXTOID);
	values[6] = stmt_array(b->kind, NULL, n, TEXTOID);
	values[7] = stmt_array(b->amount, NULL, n, INT8OID);
	values[8] = stmt_array(b->currency, NULL, n, TEXTOID);
	values[9] = stmt_array(b->fee, b->fee_null, n, INT8OID);
	values[10] = stmt_array(b->fee_milli, NULL, n, INT8OID);
	values[11] = stmt_array(b->settled, b->settled_null, n, TEXTOID);
	values[12] = stmt_array(b->line_no, NULL, n, INT4OID);
	values[13] = stmt_array(b->original, b->original_null, n, TEXTOID);
	values[14] = stmt_array(b->merchant_refund, b->merchant_refund_null, n, TEXTOID);
	values[15] = stmt_array(b->line_ref, b->line_ref_null, n, TEXTOID);

	PayconsExecPlan(w->careful ? &stmt_insert_careful_plan : &stmt_insert_plan,
					values, NULL, 0);
	if (SPI_processed != (uint64) n)
		stmt_report_duplicate(w, b);

	b->n = 0;
	MemoryContextReset(w->batch_cxt);
}

/* Add a parsed line to the batch */
void
StmtWriterAdd(StmtWriter *w, const StmtLine *l)
{
	StmtBatch  *b = w->batch;
	MemoryContext old = MemoryContextSwitchTo(w->batch_cxt);
	int			i = b->n;

	if (l->line > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_TOO_LARGE),
				 errmsg("%s statement: more than %d lines", StmtFormatName(w->format),
						PG_INT32_MAX)));
	b->txn[i] = stmt_text(l->txn_id);
	b->order_id[i] = stmt_text(l->order_id);
	b->kind[i] = CStringGetTextDatum(l->refund ? "refund" : "payment");
	b->amount[i] = Int64GetDatum(l->amount);
	b->currency[i] = CStringGetTextDatum(l->currency);
	b->fee_milli[i] = Int64GetDatum(l->fee_milli);
	/* whole minor units only when the fee is one (see fee_milli) */
	b->fee_null[i] = !(l->fee_milli >= 0 && l->fee_milli % 1000 == 0);
	b->fee[i] = Int64GetDatum(l->fee_milli / 1000);
	b->settled_null[i] = !l->has_settled;
	b->settled[i] = l->has_settled ? CStringGetTextDatum(l->settled_at) : (Datum) 0;
	b->line_no[i] = Int32GetDatum((int32) l->line);
	b->original_null[i] = l->original_txn_id.len == 0;
	b->original[i] = b->original_null[i] ? (Datum) 0 : stmt_text(l->original_txn_id);
	b->merchant_refund_null[i] = l->merchant_refund_id.len == 0;
	b->merchant_refund[i] = b->merchant_refund_null[i] ? (Datum) 0 :
		stmt_text(l->merchant_refund_id);
	b->line_ref_null[i] = l->line_ref.len == 0;
	b->line_ref[i] = b->line_ref_null[i] ? (Datum) 0 : stmt_text(l->line_ref);
	b->n++;
	MemoryContextSwitchTo(old);

	stmt_add_total(w, l);
	w->lines++;
	if (l->refund)
		w->refunds++;
	else
		w->payments++;
	if (b->n == STMT_BATCH)
		StmtWriterFlush(w);
}

/* The totals as jsonb: {"CNY": {"payments": n, "payment_amount": ..., ...}} */
Datum
StmtWriterTotals(StmtWriter *w)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < w->ntotals; i++)
	{
		StmtTotal  *t = &w->totals[i];

		appendStringInfo(&buf,
						 "%s\"%s\": {\"payments\": " INT64_FORMAT
						 ", \"payment_amount\": " INT64_FORMAT
						 ", \"refunds\": " INT64_FORMAT
						 ", \"refund_amount\": " INT64_FORMAT
						 ", \"fee_milli\": " INT64_FORMAT "}",
						 i > 0 ? ", " : "", t->currency, t->payments,
						 t->payment_amount, t->refunds, t->refund_amount,
						 t->fee_milli);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

