/*-------------------------------------------------------------------------
 *
 * statement_parse.h
 *	  Parsers of the channels' settlement statement files: WeChat Pay's
 *	  trade bill, Alipay's business detail bill, Stripe's balance
 *	  transactions export and a documented generic CSV.
 *
 * Plain C with no dependency on the backend (statement_parse.c,
 * statement_formats.c and statement_fields.c link with money.c only), so
 * that a libFuzzer target can drive it.  Nothing here raises an error:
 * every function returns a status, and on error the parser's StmtError
 * says what and where; statement_load.c turns that into an ereport.
 *
 * The caller feeds the file one physical line at a time (without its line
 * terminator; a trailing CR is ignored).  A CSV record that continues on
 * the next line (a newline inside quotes) is answered STMT_MORE and
 * completed by the next feed.
 *
 * IDENTIFICATION
 *	  src/statement_parse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STATEMENT_PARSE_H
#define PAYCONS_STATEMENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (documented in doc/reconciliation.md) */
#define STMT_MAX_RECORD		65536	/* bytes of one record (line) */
#define STMT_MAX_FIELDS		64		/* fields of one record */
#define STMT_MAX_ID			128		/* bytes of channel_txn_id and other ids */
#define STMT_MAX_ORDER_ID	64		/* bytes of order_id */

typedef enum StmtFormat
{
	STMT_FMT_WECHATPAY = 0,		/* wechatpay_tradebill */
	STMT_FMT_ALIPAY,			/* alipay_bill */
	STMT_FMT_STRIPE,			/* stripe_balance */
	STMT_FMT_CSV				/* csv */
} StmtFormat;

/* What one feed produced */
typedef enum StmtResult
{
	STMT_LINE = 0,				/* a statement line, in *out */
	STMT_NOTHING,				/* header, comment, blank or summary line */
	STMT_SKIPPED,				/* a record that is not a payment or refund */
	STMT_MORE,					/* the record continues on the next line */
	STMT_ERROR					/* see parser->error */
} StmtResult;

/* Kinds of error; statement_load.c maps each to a SQLSTATE */
typedef enum StmtErrorCode
{
	STMT_E_NONE = 0,
	STMT_E_SYNTAX,				/* malformed CSV, wrong number of fields */
	STMT_E_COLUMN,				/* header missing, or a required column */
	STMT_E_AMOUNT,				/* an amount that is not exact decimal text */
	STMT_E_SIGN,				/* zero or a sign where none is allowed */
	STMT_E_CURRENCY,			/* not an ISO 4217 code */
	STMT_E_DATE,				/* the line's date is not the statement's */
	STMT_E_TIME,				/* a time that is not YYYY-MM-DD HH:MM[:SS] */
	STMT_E_TOO_LONG,			/* record or field count over the limits */
	STMT_E_SUMMARY,				/* summary block missing or not matching */
	STMT_E_ID,					/* an id empty, too long or with control chars */
	STMT_E_KIND					/* csv: kind not payment or refund */
} StmtErrorCode;

/* A slice of the parser's record buffer */
typedef struct StmtField
{
	const char *p;
	size_t		len;
} StmtField;

typedef struct StmtError
{
	StmtErrorCode code;
	long		line;			/* 1-based line of the record */
	const char *column;			/* column name, or NULL */
	StmtField	value;			/* offending text (may be empty) */
	char		detail[256];	/* a full sentence */
} StmtError;

/* One statement line, as the loaders store it (slices valid until the next feed) */
typedef struct StmtLine
{
	bool		refund;
	StmtField	txn_id;			/* the channel's id of this payment or refund */
	StmtField	order_id;		/* the merchant's order id */
	StmtField	original_txn_id;	/* refunds: the payment's channel id (may be empty) */
	StmtField	merchant_refund_id; /* refunds: the merchant's refund number (may be empty) */
	StmtField	line_ref;		/* the channel's id of the line itself (Stripe txn_...) */
	char		currency[4];	/* upper case, NUL-terminated */
	int64_t		amount;			/* minor units, > 0 */
	int64_t		fee_milli;		/* thousandths of a minor unit; < 0: fee given back */
	bool		has_settled;
	char		settled_at[20]; /* "YYYY-MM-DD HH:MM:SS", local time of the file */
	long		line;			/* 1-based line of the record */
} StmtLine;

/* Column roles the formats map header names to */
typedef enum StmtColumn
{
	STMT_COL_TIME = 0,
	STMT_COL_TXN,
	STMT_COL_ORDER,
	STMT_COL_STATUS,			/* WeChat 交易状态, Alipay 业务类型, Stripe Type, csv kind */
	STMT_COL_CURRENCY,
	STMT_COL_AMOUNT,			/* major units */
	STMT_COL_AMOUNT_MINOR,		/* csv: minor units */
	STMT_COL_REFUND_ID,			/* WeChat 微信退款单号 */
	STMT_COL_MERCHANT_REFUND,	/* WeChat 商户退款单号, Alipay 退款批次号/请求号 */
	STMT_COL_REFUND_AMOUNT,		/* WeChat 申请退款金额 / 退款金额 */
	STMT_COL_REFUND_STATUS,		/* WeChat 退款状态 */
	STMT_COL_REFUND_TIME,		/* WeChat 退款成功时间 (older bills) */
	STMT_COL_FEE,				/* major units */
	STMT_COL_FEE_MINOR,			/* csv: minor units */
	STMT_COL_ORIGINAL_TXN,		/* csv */
	STMT_COL_LINE_REF,			/* Stripe id */
	STMT_NUM_COLUMNS
} StmtColumn;

typedef enum StmtState
{
	STMT_ST_HEADER = 0,			/* before the header row */
	STMT_ST_DETAIL,				/* detail rows */
	STMT_ST_SUMMARY_HEAD,		/* WeChat: summary header seen, values next */
	STMT_ST_TRAILER,			/* after the detail rows (summary, comments) */
	STMT_ST_DONE
} StmtState;

/*
 * The parser.  About 130 kB: allocate it (palloc, malloc), do not put it
 * on the stack.  All fields are private to the parser's files
 * (statement_parse.c, statement_formats.c, statement_fields.c) except
 * error.
 */
typedef struct StmtParser
{
	StmtFormat	format;
	char		date[11];		/* the statement's date, "YYYY-MM-DD" */
	StmtState	state;
	long		lineno;			/* physical lines fed so far */
	long		record_line;	/* first line of the record being read */
	size_t		pending;		/* bytes of an unfinished record in rec */
	int			ncolumns;		/* fields of the header */
	int			col[STMT_NUM_COLUMNS];	/* field index per role, -1 if absent */
	const char *colname[STMT_NUM_COLUMNS];	/* its header name */
	long		details;		/* detail records seen */
	long		payments;		/* wechat/alipay summary check */
	long		refunds;
	bool		summary_payments_seen;	/* alipay: 交易合计 */
	bool		summary_refunds_seen;	/* alipay: 退款合计 */
	int			nfields;
	StmtField	fields[STMT_MAX_FIELDS];
	StmtError	error;
	char		rec[STMT_MAX_RECORD + 1];	/* the record as fed */
	char		buf[STMT_MAX_RECORD + 1];	/* its fields, unquoted */
} StmtParser;

/* Name <-> format; false for an unknown name */
extern bool StmtFormatFromName(const char *name, StmtFormat *format);
extern const char *StmtFormatName(StmtFormat format);

/*
 * Start parsing a file of the given format for the statement date
 * "YYYY-MM-DD" (10 bytes).
 */
extern void StmtParserInit(StmtParser *p, StmtFormat format, const char *date);

/* Feed the next physical line (len bytes, no terminator) */
extern StmtResult StmtParserFeed(StmtParser *p, const char *line, size_t len,
								 StmtLine *out);

/* End of the file: STMT_NOTHING if it is complete, else STMT_ERROR */
extern StmtResult StmtParserFinish(StmtParser *p);

/*
 * Cut the next physical line of s[0..len) starting at *pos: returns its
 * start, sets *linelen (without LF or CRLF) and advances *pos; false at
 * the end.
 */
extern bool StmtNextLine(const char *s, size_t len, size_t *pos,
						 const char **line, size_t *linelen);

#endif							/* PAYCONS_STATEMENT_PARSE_H */
