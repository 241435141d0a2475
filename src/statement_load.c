/*-------------------------------------------------------------------------
 *
 * statement_load.c
 *	  paycons.load_statement(channel, statement_date, format, content,
 *	  replace) and paycons.load_statement_upload(channel, statement_date,
 *	  format, upload regclass, replace): a channel's statement file, parsed
 *	  by statement_parse.c, into paycons.statement_lines, with one row per
 *	  file in paycons.statement_files.
 *
 * A file is known by the SHA-256 digest of its lines (each ended by LF, so
 * CRLF and LF copies of a file are the same file).  Loading the file again
 * is a no-op that returns the first load's summary; another file for the
 * same (channel, date) is refused unless replace is true, which swaps the
 * lines in the same transaction.  Any bad line raises an error naming the
 * line and the value, and the whole call is undone: nothing of the file is
 * kept.
 *
 * The lines are inserted through SQL (a kept plan, executor, constraints,
 * triggers) in batches: each batch is one INSERT ... SELECT FROM
 * ROWS FROM (unnest(...)) of arrays built here.  The writes run as the
 * extension owner; the rows of an upload table are read as the caller, who
 * must be able to read it.  The SQL functions are declared with SET
 * search_path = pg_catalog, paycons, pg_temp, and every object in our SQL
 * is qualified.
 *
 * IDENTIFICATION
 *	  src/statement_load.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/acl.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "as_owner.h"
#include "errcodes.h"
#include "money.h"
#include "paycons.h"
#include "spi_plans.h"
#include "statement_load.h"
#include "validate.h"
#include "statement_parse.h"

PG_FUNCTION_INFO_V1(paycons_load_statement);
PG_FUNCTION_INFO_V1(paycons_load_statement_upload);

/* Lines per INSERT */
#define STMT_BATCH			10000
/* Rows fetched from an upload table at a time */
#define STMT_FETCH			10000

/* Totals of one currency */
typedef struct StmtTotal
{
	char		currency[4];
	int64		payments;
	int64		payment_amount;
	int64		refunds;
	int64		refund_amount;
	int64		fee_milli;
} StmtTotal;

/* One batch of parsed lines, as the arrays the INSERT takes */
typedef struct StmtBatch
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
} StmtBatch;

/* A load under way */
typedef struct StmtLoad
{
	/* the request */
	char	   *channel;
	DateADT		date;
	char		datestr[11];
	StmtFormat	format;
	const char *time_zone;
	bool		replace;

	/* the file: content text, or an upload table */
	const char *content;
	size_t		content_len;
	Oid			upload;
	char	   *upload_sql;

	/* reading */
	size_t		pos;
	Portal		portal;
	SPITupleTable *rows;
	uint64		nrows;
	uint64		row;

	/* results */
	int64		file_id;
	StmtParser *parser;
	StmtBatch  *batch;
	MemoryContext batch_cxt;
	int			lines;
	int			payments;
	int			refunds;
	int			skipped;
	int			ntotals;
	StmtTotal	totals[64];
	char		digest[PG_SHA256_DIGEST_LENGTH * 2 + 1];
} StmtLoad;

static PayconsPlan stmt_lock_plan = {
	"SELECT pg_catalog.pg_advisory_xact_lock(paycons.statement_lock_key($1, $2))",
	2, {TEXTOID, DATEOID}, 0, NULL
};

static PayconsPlan stmt_file_plan = {
	"SELECT f.id, f.format, f.digest, f.lines, f.payments, f.refunds, f.skipped,"
	" f.totals, f.time_zone"
	" FROM paycons.statement_files f"
	" WHERE f.channel OPERATOR(pg_catalog.=) $1"
	" AND f.statement_date OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, DATEOID}, 0, NULL
};

static PayconsPlan stmt_any_line_plan = {
	"SELECT 1 FROM paycons.statement_lines s"
	" WHERE s.channel OPERATOR(pg_catalog.=) $1"
	" AND s.statement_date OPERATOR(pg_catalog.=) $2 LIMIT 1",
	2, {TEXTOID, DATEOID}, 0, NULL
};

static PayconsPlan stmt_channel_plan = {
	"SELECT st.time_zone FROM paycons.channels c"
	" LEFT JOIN paycons.statement_settings st"
	" ON st.channel OPERATOR(pg_catalog.=) c.channel"
	" WHERE c.channel OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan stmt_nextval_plan = {
	"SELECT pg_catalog.nextval('paycons.statement_files_id_seq'::pg_catalog.regclass)",
	0, {InvalidOid}, 0, NULL
};

static PayconsPlan stmt_delete_plan = {
	"DELETE FROM paycons.statement_lines s"
	" WHERE s.channel OPERATOR(pg_catalog.=) $1"
	" AND s.statement_date OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, DATEOID}, 0, NULL
};

static PayconsPlan stmt_insert_plan = {
	"INSERT INTO paycons.statement_lines"
	" (channel, statement_date, channel_txn_id, order_id, kind, amount, currency,"
	"  fee, settled_at, fee_milli, line_no, original_txn_id, merchant_refund_id,"
	"  line_ref, file_id)"
	" SELECT $1, $2, u.t, u.o, u.k, u.a, u.c, u.f,"
	"  pg_catalog.timezone($3, CAST(u.s AS pg_catalog.timestamp)),"
	"  u.fm, u.n, u.ot, u.mr, u.lr, $4"
	" FROM ROWS FROM (pg_catalog.unnest($5), pg_catalog.unnest($6),"
	"  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
	"  pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
	"  pg_catalog.unnest($13), pg_catalog.unnest($14), pg_catalog.unnest($15),"
	"  pg_catalog.unnest($16))"
	" AS u(t, o, k, a, c, f, fm, s, n, ot, mr, lr)"
	" ON CONFLICT DO NOTHING",
	16, {TEXTOID, DATEOID, TEXTOID, INT8OID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
		INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID}, 0, NULL
};

static PayconsPlan stmt_find_plan = {
	"SELECT s.statement_date, s.line_no, s.file_id"
	" FROM paycons.statement_lines s"
	" WHERE s.channel OPERATOR(pg_catalog.=) $1"
	" AND s.channel_txn_id OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}, 0, NULL
};

static PayconsPlan stmt_upsert_file_plan = {
	"INSERT INTO paycons.statement_files AS f"
	" (id, channel, statement_date, format, digest, time_zone, lines, payments,"
	"  refunds, skipped, totals, loaded_by)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
	" ON CONFLICT ON CONSTRAINT statement_files_once DO UPDATE"
	" SET format = excluded.format, digest = excluded.digest,"
	"  time_zone = excluded.time_zone, lines = excluded.lines,"
	"  payments = excluded.payments, refunds = excluded.refunds,"
	"  skipped = excluded.skipped, totals = excluded.totals,"
	"  loaded_by = excluded.loaded_by, loaded_at = pg_catalog.now(),"
	"  replaced = f.replaced OPERATOR(pg_catalog.+) 1",
	12, {INT8OID, TEXTOID, DATEOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
	INT4OID, INT4OID, JSONBOID, TEXTOID}, 0, NULL
};

static void stmt_raise(StmtLoad *ld) pg_attribute_noreturn();

/* ---------------------------------------------------------------------- */
/* Reading the file */

/* Start reading the file from its first line */
static void
stmt_source_open(StmtLoad *ld)
{
	ld->pos = 0;
	if (!OidIsValid(ld->upload))
		return;

	/* the caller's right to read it was checked before (stmt_check_upload) */
	ld->portal = SPI_cursor_open_with_args(NULL, ld->upload_sql, 0, NULL, NULL,
										   NULL, true, 0);
	ld->rows = NULL;
	ld->nrows = ld->row = 0;
}

/* The next line of the file; false at its end */
static bool
stmt_source_next(StmtLoad *ld, const char **line, size_t *len)
{
	if (!OidIsValid(ld->upload))
		return StmtNextLine(ld->content, ld->content_len, &ld->pos, line, len);

	for (;;)
	{
		if (ld->rows != NULL && ld->row < ld->nrows)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(ld->rows->vals[ld->row],
										  ld->rows->tupdesc, 1, &isnull);

			ld->row++;
			if (isnull)
			{
				*line = "";
				*len = 0;
			}
			else
			{
				text	   *t = DatumGetTextPP(d);

				*line = VARDATA_ANY(t);
				*len = VARSIZE_ANY_EXHDR(t);
				/* a line copied with its CR */
				if (*len > 0 && (*line)[*len - 1] == '\r')
					(*len)--;
			}
			return true;
		}
		if (ld->rows != NULL)
		{
			SPI_freetuptable(ld->rows);
			ld->rows = NULL;
		}
		if (ld->portal == NULL)
			return false;
		SPI_cursor_fetch(ld->portal, true, STMT_FETCH);
		ld->rows = SPI_tuptable;
		ld->nrows = SPI_processed;
		ld->row = 0;
		if (ld->nrows == 0)
		{
			SPI_freetuptable(ld->rows);
			ld->rows = NULL;
			SPI_cursor_close(ld->portal);
			ld->portal = NULL;
			return false;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Errors */

/* Raise the parser's error as an ERROR naming the line and the value */
static void
stmt_raise(StmtLoad *ld)
{
	StmtError  *e = &ld->parser->error;
	int			sqlstate;
	const char *what;
	char	   *value;

	switch (e->code)
	{
		case STMT_E_SYNTAX:
			sqlstate = ERRCODE_PAYCONS_STMT_MALFORMED;
			what = "malformed line";
			break;
		case STMT_E_COLUMN:
			sqlstate = ERRCODE_PAYCONS_STMT_MISSING_COLUMN;
			what = "missing column";
			break;
		case STMT_E_AMOUNT:
			sqlstate = ERRCODE_PAYCONS_STMT_INVALID_AMOUNT;
			what = "invalid amount";
			break;
		case STMT_E_SIGN:
			sqlstate = ERRCODE_PAYCONS_STMT_AMOUNT_SIGN;
			what = "amount not allowed";
			break;
		case STMT_E_CURRENCY:
			sqlstate = ERRCODE_PAYCONS_STMT_UNKNOWN_CURRENCY;
			what = "unknown currency";
			break;
		case STMT_E_DATE:
			sqlstate = ERRCODE_PAYCONS_STMT_WRONG_DATE;
			what = "time of another day";
			break;
		case STMT_E_TIME:
			sqlstate = ERRCODE_PAYCONS_STMT_INVALID_TIME;
			what = "invalid time";
			break;
		case STMT_E_TOO_LONG:
			sqlstate = ERRCODE_PAYCONS_STMT_TOO_LARGE;
			what = "line too long";
			break;
		case STMT_E_SUMMARY:
			sqlstate = ERRCODE_PAYCONS_STMT_SUMMARY;
			what = "summary does not match the lines";
			break;
		case STMT_E_ID:
			sqlstate = ERRCODE_PAYCONS_STMT_INVALID_ID;
			what = "invalid id";
			break;
		case STMT_E_KIND:
			sqlstate = ERRCODE_PAYCONS_STMT_INVALID_KIND;
			what = "invalid kind";
			break;
		default:
			elog(ERROR, "statement parser failed without an error code");
	}

	value = pnstrdup(e->value.p, pg_mbcliplen(e->value.p, e->value.len, 200));
	if (e->code == STMT_E_COLUMN && e->column != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("%s statement, line %ld: the header has no column \"%s\"",
						StmtFormatName(ld->format), e->line, e->column),
				 errdetail_internal("%s", e->detail),
				 errhint("See doc/reconciliation.md for the columns each format needs.")));
	else if (e->column != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("%s statement, line %ld: %s \"%s\" in column \"%s\"",
						StmtFormatName(ld->format), e->line, what, value,
						e->column),
				 errdetail_internal("%s", e->detail),
				 errhint("Nothing of this file was loaded.")));
	else if (value[0] != '\0')
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("%s statement, line %ld: %s \"%s\"",
						StmtFormatName(ld->format), e->line, what, value),
				 errdetail_internal("%s", e->detail),
				 errhint("Nothing of this file was loaded.")));
	else
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("%s statement, line %ld: %s",
						StmtFormatName(ld->format), e->line, what),
				 errdetail_internal("%s", e->detail),
				 errhint("Nothing of this file was loaded.")));
	pg_unreachable();
}

/* ---------------------------------------------------------------------- */
/* Loading */

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
stmt_add_total(StmtLoad *ld, const StmtLine *l)
{
	StmtTotal  *t = NULL;
	int			i;
	bool		overflow;

	for (i = 0; i < ld->ntotals; i++)
		if (memcmp(ld->totals[i].currency, l->currency, 4) == 0)
		{
			t = &ld->totals[i];
			break;
		}
	if (t == NULL)
	{
		if (ld->ntotals >= (int) lengthof(ld->totals))
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_STMT_TOO_LARGE),
					 errmsg("%s statement, line %ld: more than %d currencies in one file",
							StmtFormatName(ld->format), l->line,
							(int) lengthof(ld->totals))));
		t = &ld->totals[ld->ntotals++];
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
						StmtFormatName(ld->format), l->line, l->currency)));
}

/*
 * A batch inserted fewer rows than it has lines: a transaction id appears
 * twice.  Find the first such line and say where the other one is.
 */
static void
stmt_report_duplicate(StmtLoad *ld, StmtBatch *b)
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

		values[0] = CStringGetTextDatum(ld->channel);
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
		if (!file_null && file_id == ld->file_id && !line_null &&
			DatumGetInt32(line_no) == DatumGetInt32(b->line_no[i]))
			continue;			/* this very line went in */

		if (!file_null && file_id == ld->file_id)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_STMT_DUPLICATE_LINE),
					 errmsg("%s statement, line %d: duplicate transaction \"%s\"",
							StmtFormatName(ld->format),
							DatumGetInt32(b->line_no[i]), txn),
					 errdetail("Line %d of this file has the same transaction id.",
							   line_null ? 0 : DatumGetInt32(line_no)),
					 errhint("Nothing of this file was loaded.")));
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_DUPLICATE_LINE),
				 errmsg("%s statement, line %d: duplicate transaction \"%s\"",
						StmtFormatName(ld->format),
						DatumGetInt32(b->line_no[i]), txn),
				 errdetail("The transaction is already loaded from the statement of %s of channel \"%s\".",
						   DatumGetCString(DirectFunctionCall1(date_out,
															   DateADTGetDatum(date))),
						   ld->channel),
				 errhint("Nothing of this file was loaded.")));
	}
	elog(ERROR, "statement batch inserted fewer rows than it has, but no duplicate was found");
}

/* Insert the batch, then empty it */
static void
stmt_flush(StmtLoad *ld)
{
	StmtBatch  *b = ld->batch;
	Datum		values[16];
	int			n = b->n;

	if (n == 0)
		return;
	values[0] = CStringGetTextDatum(ld->channel);
	values[1] = DateADTGetDatum(ld->date);
	values[2] = CStringGetTextDatum(ld->time_zone);
	values[3] = Int64GetDatum(ld->file_id);
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

	PayconsExecPlan(&stmt_insert_plan, values, NULL, 0);
	if (SPI_processed != (uint64) n)
		stmt_report_duplicate(ld, b);

	b->n = 0;
	MemoryContextReset(ld->batch_cxt);
}

/* Add a parsed line to the batch */
static void
stmt_add(StmtLoad *ld, const StmtLine *l)
{
	StmtBatch  *b = ld->batch;
	MemoryContext old = MemoryContextSwitchTo(ld->batch_cxt);
	int			i = b->n;

	if (l->line > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_TOO_LARGE),
				 errmsg("%s statement: more than %d lines", StmtFormatName(ld->format),
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

	stmt_add_total(ld, l);
	ld->lines++;
	if (l->refund)
		ld->refunds++;
	else
		ld->payments++;
	if (b->n == STMT_BATCH)
		stmt_flush(ld);
}

/*
 * One pass over the file: its digest, and with load the lines parsed and
 * inserted.
 */
static void
stmt_pass(StmtLoad *ld, bool load)
{
	pg_cryptohash_ctx *sha = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	const char *line;
	size_t		len;
	StmtLine	sl;
	int			i;

	if (pg_cryptohash_init(sha) < 0)
		elog(ERROR, "could not initialize SHA-256: %s", pg_cryptohash_error(sha));
	if (load)
	{
		StmtParserInit(ld->parser, ld->format, ld->datestr);
		ld->lines = ld->payments = ld->refunds = ld->skipped = ld->ntotals = 0;
		ld->batch->n = 0;
	}
	stmt_source_open(ld);
	while (stmt_source_next(ld, &line, &len))
	{
		CHECK_FOR_INTERRUPTS();
		if (pg_cryptohash_update(sha, (const uint8 *) line, len) < 0 ||
			pg_cryptohash_update(sha, (const uint8 *) "\n", 1) < 0)
			elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(sha));
		if (!load)
			continue;
		switch (StmtParserFeed(ld->parser, line, len, &sl))
		{
			case STMT_LINE:
				stmt_add(ld, &sl);
				break;
			case STMT_SKIPPED:
				ld->skipped++;
				break;
			case STMT_ERROR:
				stmt_raise(ld);
				break;
			case STMT_NOTHING:
			case STMT_MORE:
				break;
		}
	}
	if (load)
	{
		if (StmtParserFinish(ld->parser) == STMT_ERROR)
			stmt_raise(ld);
		stmt_flush(ld);
	}
	if (pg_cryptohash_final(sha, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(sha));
	pg_cryptohash_free(sha);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(ld->digest + 2 * i, 3, "%02x", digest[i]);
}

/* The totals as jsonb: {"CNY": {"payments": n, "payment_amount": ..., ...}} */
static Datum
stmt_totals_jsonb(StmtLoad *ld)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < ld->ntotals; i++)
	{
		StmtTotal  *t = &ld->totals[i];

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

/* Build the function's result row */
static Datum
stmt_result(FunctionCallInfo fcinfo, int64 file_id, const char *status,
			int lines, int payments, int refunds, int skipped, Datum totals,
			const char *digest)
{
	TupleDesc	desc;
	Datum		values[8];
	bool		nulls[8] = {false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a row called in a context that cannot accept it");
	desc = BlessTupleDesc(desc);
	values[0] = Int64GetDatum(file_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int32GetDatum(lines);
	values[3] = Int32GetDatum(payments);
	values[4] = Int32GetDatum(refunds);
	values[5] = Int32GetDatum(skipped);
	values[6] = totals;
	values[7] = CStringGetTextDatum(digest);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * The load itself, connected to SPI and running as the owner.  Returns the
 * result row, built in the caller's memory context.
 */
static Datum
stmt_load(FunctionCallInfo fcinfo, StmtLoad *ld, MemoryContext upper)
{
	Datum		values[12];
	bool		isnull;
	bool		have_file;
	int64		file_id = 0;
	char	   *old_format = NULL;
	char	   *old_digest = NULL;
	const char *status;
	Datum		totals;
	MemoryContext old;
	Datum		result;

	values[0] = CStringGetTextDatum(ld->channel);
	values[1] = DateADTGetDatum(ld->date);

	/* the channel, and the time zone of a csv file */
	PayconsExecPlan(&stmt_channel_plan, values, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_UNKNOWN_CHANNEL),
				 errmsg("payment channel \"%s\" is not registered", ld->channel),
				 errhint("Register it with paycons.set_channel().")));
	switch (ld->format)
	{
		case STMT_FMT_WECHATPAY:
		case STMT_FMT_ALIPAY:
			ld->time_zone = "Asia/Shanghai";
			break;
		case STMT_FMT_STRIPE:
			ld->time_zone = "UTC";
			break;
		default:
			ld->time_zone = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			if (ld->time_zone == NULL)
				ld->time_zone = "UTC";
			break;
	}

	/* one load or reconciliation of a (channel, date) at a time */
	PayconsExecPlan(&stmt_lock_plan, values, NULL, 0);

	PayconsExecPlan(&stmt_file_plan, values, NULL, 1);
	have_file = SPI_processed > 0;
	if (have_file)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		file_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		old_format = SPI_getvalue(tup, desc, 2);
		old_digest = SPI_getvalue(tup, desc, 3);
	}
	else
	{
		PayconsExecPlan(&stmt_any_line_plan, values, NULL, 1);
		if (SPI_processed > 0 && !ld->replace)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_STMT_ALREADY_LOADED),
					 errmsg("channel \"%s\" already has statement lines for %s",
							ld->channel, ld->datestr),
					 errdetail("They were not loaded by load_statement (no file is recorded for them)."),
					 errhint("Pass replace => true to replace them with this file.")));
		if (SPI_processed > 0)
			have_file = true;	/* hand-loaded lines: replaced below */
	}

	if (have_file)
	{
		stmt_pass(ld, false);
		if (old_digest != NULL && strcmp(old_digest, ld->digest) == 0 &&
			strcmp(old_format, StmtFormatName(ld->format)) == 0)
		{
			/* the same file again: nothing to do */
			HeapTuple	tup;
			TupleDesc	desc;

			PayconsExecPlan(&stmt_file_plan, values, NULL, 1);
			tup = SPI_tuptable->vals[0];
			desc = SPI_tuptable->tupdesc;
			old = MemoryContextSwitchTo(upper);
			totals = datumCopy(SPI_getbinval(tup, desc, 8, &isnull), false, -1);
			result = stmt_result(fcinfo, file_id, "unchanged",
								 DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull)),
								 DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull)),
								 DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull)),
								 DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull)),
								 totals, ld->digest);
			MemoryContextSwitchTo(old);
			return result;
		}
		if (!ld->replace)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_STMT_ALREADY_LOADED),
					 errmsg("channel \"%s\" already has another statement file for %s",
							ld->channel, ld->datestr),
					 errdetail("The loaded file (%s) has digest %s; this one (%s) has %s.",
							   old_format, old_digest,
							   StmtFormatName(ld->format), ld->digest),
					 errhint("Pass replace => true to replace the loaded file with this one.")));
		PayconsExecPlan(&stmt_delete_plan, values, NULL, 0);
		status = "replaced";
	}
	else
		status = "loaded";

	if (file_id == 0)
	{
		PayconsExecPlan(&stmt_nextval_plan, NULL, NULL, 1);
		file_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	}
	ld->file_id = file_id;

	stmt_pass(ld, true);

	totals = stmt_totals_jsonb(ld);
	values[0] = Int64GetDatum(file_id);
	values[1] = CStringGetTextDatum(ld->channel);
	values[2] = DateADTGetDatum(ld->date);
	values[3] = CStringGetTextDatum(StmtFormatName(ld->format));
	values[4] = CStringGetTextDatum(ld->digest);
	values[5] = CStringGetTextDatum(ld->time_zone);
	values[6] = Int32GetDatum(ld->lines);
	values[7] = Int32GetDatum(ld->payments);
	values[8] = Int32GetDatum(ld->refunds);
	values[9] = Int32GetDatum(ld->skipped);
	values[10] = totals;
	values[11] = CStringGetTextDatum(GetUserNameFromId(PayconsActor(), false));
	PayconsExecPlan(&stmt_upsert_file_plan, values, NULL, 0);

	old = MemoryContextSwitchTo(upper);
	totals = datumCopy(totals, false, -1);
	result = stmt_result(fcinfo, file_id, status, ld->lines, ld->payments,
						 ld->refunds, ld->skipped, totals, ld->digest);
	MemoryContextSwitchTo(old);
	return result;
}

/* Arguments common to both functions; returns the load to run */
static StmtLoad *
stmt_begin(FunctionCallInfo fcinfo)
{
	StmtLoad   *ld = palloc0(sizeof(StmtLoad));
	char	   *format;
	int			y,
				m,
				d;

	PayconsRequireArg(fcinfo, 0, "channel");
	PayconsRequireArg(fcinfo, 1, "statement_date");
	PayconsRequireArg(fcinfo, 2, "format");
	PayconsRequireArg(fcinfo, 4, "replace");

	ld->channel = PayconsCheckId(PG_GETARG_TEXT_PP(0), "channel", PAYCONS_MAX_CHANNEL);
	ld->date = PG_GETARG_DATEADT(1);
	if (DATE_NOT_FINITE(ld->date))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("statement_date must be a finite date")));
	j2date(ld->date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (y < 1 || y > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("statement_date must be between the years 1 and 9999")));
	snprintf(ld->datestr, sizeof(ld->datestr), "%04d-%02d-%02d", y, m, d);

	format = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!StmtFormatFromName(format, &ld->format))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_UNKNOWN_FORMAT),
				 errmsg("unknown statement format \"%s\"", format),
				 errhint("Use wechatpay_tradebill, alipay_bill, stripe_balance or csv.")));
	ld->replace = PG_GETARG_BOOL(4);
	ld->parser = palloc(sizeof(StmtParser));
	ld->batch = palloc(sizeof(StmtBatch));
	ld->batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
										  "paycons statement batch",
										  ALLOCSET_DEFAULT_SIZES);
	return ld;
}

/* Work of a load: run as the owner, connected to SPI */
typedef struct StmtRun
{
	FunctionCallInfo fcinfo;
	StmtLoad   *ld;
	Datum		result;
} StmtRun;

static void
stmt_run_work(void *arg, MemoryContext caller)
{
	StmtRun    *r = (StmtRun *) arg;

	r->result = stmt_load(r->fcinfo, r->ld, caller);
}

/* Run a load as the owner */
static Datum
stmt_run(FunctionCallInfo fcinfo, StmtLoad *ld)
{
	StmtRun		r;

	r.fcinfo = fcinfo;
	r.ld = ld;
	r.result = (Datum) 0;
	PayconsAsOwner(NULL, stmt_run_work, &r);
	return r.result;
}

/*
 * paycons.load_statement(channel text, statement_date date, format text,
 * content text, replace boolean DEFAULT false)
 */
Datum
paycons_load_statement(PG_FUNCTION_ARGS)
{
	StmtLoad   *ld = stmt_begin(fcinfo);
	Size		size;
	text	   *content;

	PayconsRequireArg(fcinfo, 3, "content");
	size = toast_raw_datum_size(PG_GETARG_DATUM(3)) - VARHDRSZ;
	if (size > (Size) paycons_statement_max_size * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_TOO_LARGE),
				 errmsg("statement content of %zu bytes is too large", size),
				 errdetail("paycons.statement_max_size allows %d kB.",
						   paycons_statement_max_size),
				 errhint("Load a large file with paycons.load_statement_upload() (see doc/reconciliation.md).")));
	content = PG_GETARG_TEXT_PP(3);
	ld->content = VARDATA_ANY(content);
	ld->content_len = VARSIZE_ANY_EXHDR(content);
	return stmt_run(fcinfo, ld);
}

/*
 * paycons.load_statement_upload(channel text, statement_date date,
 * format text, upload regclass, replace boolean DEFAULT false): the file's
 * lines are the rows of a table the caller filled with COPY, column "line"
 * (text) in the order of column "line_no" (an integer).
 */
Datum
paycons_load_statement_upload(PG_FUNCTION_ARGS)
{
	StmtLoad   *ld = stmt_begin(fcinfo);
	Oid			relid;
	char		relkind;
	AttrNumber	line_att,
				no_att;
	Oid			line_type,
				no_type;
	char	   *nspname;
	char	   *relname;

	PayconsRequireArg(fcinfo, 3, "upload");
	relid = PG_GETARG_OID(3);
	relkind = get_rel_relkind(relid);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("upload table with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_BAD_UPLOAD),
				 errmsg("\"%s\" is not a table", relname),
				 errhint("Create the upload table as CREATE TEMP TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text).")));
	line_att = get_attnum(relid, "line");
	no_att = get_attnum(relid, "line_no");
	line_type = line_att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, line_att);
	no_type = no_att == InvalidAttrNumber ? InvalidOid : get_atttype(relid, no_att);
	if (line_type != TEXTOID ||
		(no_type != INT2OID && no_type != INT4OID && no_type != INT8OID))
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_BAD_UPLOAD),
				 errmsg("upload table \"%s\" must have the columns line (text) and line_no (an integer)",
						relname),
				 errhint("Create the upload table as CREATE TEMP TABLE upload (line_no bigint GENERATED ALWAYS AS IDENTITY, line text).")));
	/*
	 * The table is read by the owner, so the caller must be allowed to read
	 * it, all of it: SELECT on both columns, and no row-level security that
	 * would show the caller less than the owner sees.
	 */
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		(pg_attribute_aclcheck(relid, line_att, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		 pg_attribute_aclcheck(relid, no_att, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for upload table \"%s\"", relname)));
	if (check_enable_rls(relid, InvalidOid, true) != RLS_NONE ||
		check_enable_rls(relid, PayconsOwnerOid(), true) != RLS_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_STMT_BAD_UPLOAD),
				 errmsg("upload table \"%s\" has row-level security", relname),
				 errhint("Load the file into a plain table, such as a temporary one.")));
	nspname = get_namespace_name(get_rel_namespace(relid));
	ld->upload = relid;
	ld->upload_sql = psprintf("SELECT u.line FROM %s u ORDER BY u.line_no",
							  quote_qualified_identifier(nspname, relname));
	return stmt_run(fcinfo, ld);
}
