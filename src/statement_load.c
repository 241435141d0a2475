/*-------------------------------------------------------------------------
 *
 * statement_load.c
 *	  paycons.load_statement(channel, statement_date, format, content,
 *	  replace) and paycons.load_statement_upload(channel, statement_date,
 *	  format, upload regclass, replace): a channel's statement file, read
 *	  by statement_source.c, parsed by statement_parse.c and written by
 *	  statement_write.c into paycons.statement_lines, with one row per file
 *	  in paycons.statement_files.
 *
 * A file is known by the SHA-256 digest of its lines (each ended by LF, so
 * CRLF and LF copies of a file are the same file).  Loading the file again
 * is a no-op that returns the first load's summary; another file for the
 * same (channel, date) is refused unless replace is true, which swaps the
 * lines in the same transaction.  Any bad line raises an error naming the
 * line and the value, and the whole call is undone: nothing of the file is
 * kept.
 *
 * The lines are inserted through SQL (statement_write.c).  The writes run
 * as the extension owner; the rows of an upload table are read by the
 * owner too, once the caller was found allowed to read all of it
 * (statement_source.c).  The SQL functions are declared with SET
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
#include "common/sha2.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"

#include "as_owner.h"
#include "errcodes.h"
#include "paycons.h"
#include "spi_plans.h"
#include "statement_load.h"
#include "statement_parse.h"
#include "statement_source.h"
#include "statement_write.h"
#include "subxact.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_load_statement);
PG_FUNCTION_INFO_V1(paycons_load_statement_upload);

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

	/* the file, its parser and where its lines go */
	StmtSource	source;
	StmtParser *parser;
	StmtWriter	writer;

	/* results */
	int64		file_id;
	int			skipped;
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

/*
 * One pass over the file: its digest, and with load the lines parsed and
 * inserted.  False if the upload table, read in its physical order, turned
 * out not to be in line_no order (statement_source.c): then neither the
 * digest nor the lines are to be trusted.
 */
static bool
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
		ld->skipped = 0;
		StmtWriterStart(&ld->writer);
	}
	StmtSourceOpen(&ld->source);
	while (StmtSourceNext(&ld->source, &line, &len))
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
				StmtWriterAdd(&ld->writer, &sl);
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
	if (ld->source.disordered)
	{
		pg_cryptohash_free(sha);
		return false;
	}
	if (load)
	{
		if (StmtParserFinish(ld->parser) == STMT_ERROR)
			stmt_raise(ld);
		StmtWriterFlush(&ld->writer);
	}
	if (pg_cryptohash_final(sha, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(sha));
	pg_cryptohash_free(sha);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(ld->digest + 2 * i, 3, "%02x", digest[i]);
	return true;
}

/* The file's digest only: in physical order if that is line_no order */
static void
stmt_digest(StmtLoad *ld)
{
	ld->source.sorted = false;
	if (stmt_pass(ld, false))
		return;
	ld->source.sorted = true;
	(void) stmt_pass(ld, false);
}

/* The fast pass over the lines, in a subtransaction (PayconsItemFn) */
static void
stmt_fast_pass(void *arg)
{
	if (!stmt_pass((StmtLoad *) arg, true))
		elog(ERROR, "upload table not in line_no order");	/* caught below */
}

/*
 * Parse and insert the lines.  First the fast way, in a subtransaction:
 * an upload table in its physical order, plain INSERTs.  If that fails for
 * any reason (the table is not in line_no order, a duplicate transaction
 * id makes an INSERT fail with the primary key's unique violation, a bad
 * line), it is undone and the file is loaded again the careful way: an
 * upload table sorted, a duplicate skipped and then named with its twin in
 * a PC error; any other error is raised again as it is.  A cancel is not
 * retried.  Every write is the same INSERT either way.
 */
static void
stmt_load_lines(StmtLoad *ld)
{
	ErrorData  *edata;

	ld->source.sorted = false;
	ld->writer.careful = false;
	if (PayconsTryItem(stmt_fast_pass, ld, &edata))
		return;
	FreeErrorData(edata);
	ld->source.sorted = true;
	ld->writer.careful = true;
	(void) stmt_pass(ld, true);
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
 * The channel must be registered; the time zone of the file's times is the
 * format's, or for csv the channel's setting (default UTC).
 */
static void
stmt_check_channel(StmtLoad *ld, Datum *values)
{
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
}

/* The same file again: nothing to do; the first load's summary */
static Datum
stmt_unchanged(FunctionCallInfo fcinfo, StmtLoad *ld, Datum *values,
			   int64 file_id, MemoryContext upper)
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		totals;
	Datum		result;
	MemoryContext old;

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

/* The file's row in paycons.statement_files, inserted or replaced */
static void
stmt_record_file(StmtLoad *ld, Datum totals)
{
	Datum		values[12];

	values[0] = Int64GetDatum(ld->file_id);
	values[1] = CStringGetTextDatum(ld->channel);
	values[2] = DateADTGetDatum(ld->date);
	values[3] = CStringGetTextDatum(StmtFormatName(ld->format));
	values[4] = CStringGetTextDatum(ld->digest);
	values[5] = CStringGetTextDatum(ld->time_zone);
	values[6] = Int32GetDatum(ld->writer.lines);
	values[7] = Int32GetDatum(ld->writer.payments);
	values[8] = Int32GetDatum(ld->writer.refunds);
	values[9] = Int32GetDatum(ld->skipped);
	values[10] = totals;
	values[11] = CStringGetTextDatum(GetUserNameFromId(PayconsActor(), false));
	PayconsExecPlan(&stmt_upsert_file_plan, values, NULL, 0);
}

/*
 * The load itself, connected to SPI and running as the owner.  Returns the
 * result row, built in the caller's memory context.
 */
static Datum
stmt_load(FunctionCallInfo fcinfo, StmtLoad *ld, MemoryContext upper)
{
	Datum		values[2];
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

	stmt_check_channel(ld, values);

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
		stmt_digest(ld);
		if (old_digest != NULL && strcmp(old_digest, ld->digest) == 0 &&
			strcmp(old_format, StmtFormatName(ld->format)) == 0)
			return stmt_unchanged(fcinfo, ld, values, file_id, upper);
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
	ld->writer.channel = ld->channel;
	ld->writer.date = ld->date;
	ld->writer.time_zone = ld->time_zone;
	ld->writer.file_id = file_id;
	ld->writer.format = ld->format;

	stmt_load_lines(ld);

	totals = StmtWriterTotals(&ld->writer);
	stmt_record_file(ld, totals);

	old = MemoryContextSwitchTo(upper);
	totals = datumCopy(totals, false, -1);
	result = stmt_result(fcinfo, file_id, status, ld->writer.lines,
						 ld->writer.payments, ld->writer.refunds, ld->skipped,
						 totals, ld->digest);
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
	StmtWriterInit(&ld->writer);
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
	StmtSourceSetContent(&ld->source, VARDATA_ANY(content),
						 VARSIZE_ANY_EXHDR(content));
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

	PayconsRequireArg(fcinfo, 3, "upload");
	StmtSourceSetUpload(&ld->source, PG_GETARG_OID(3));
	return stmt_run(fcinfo, ld);
}
