/*-------------------------------------------------------------------------
 *
 * statement_parse.c
 *	  Parsers of the channels' statement files into statement lines:
 *	  CSV splitting with quotes, WeChat Pay's backtick prefixes, Alipay's
 *	  '#' comment lines, header-name mapping per format, amounts in major
 *	  units turned into exact minor units (money.c), times and the check of
 *	  each line's date, and the checks of the files' summary blocks.
 *
 * Columns are found by their header names, never by position: the channels
 * add and reorder columns over the years (WeChat Pay says so in its bill
 * documentation).  The sources of each layout are listed in
 * doc/reconciliation.md.
 *
 * Backend-free (see statement_parse.h): no palloc, no ereport.
 *
 * IDENTIFICATION
 *	  src/statement_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "statement_parse.h"

/* One accepted header name of a column role */
typedef struct StmtColumnName
{
	StmtColumn	role;
	const char *name;
	bool		required;
} StmtColumnName;

/*
 * Header names per format.  A role listed more than once takes the first
 * name the header has (so 订单金额 wins over 应结订单金额).  A role is
 * required if any of its entries says so.
 */
static const StmtColumnName stmt_wechatpay_columns[] = {
	{STMT_COL_TIME, "交易时间", true},
	{STMT_COL_TXN, "微信订单号", true},
	{STMT_COL_ORDER, "商户订单号", true},
	{STMT_COL_STATUS, "交易状态", true},
	{STMT_COL_CURRENCY, "货币种类", true},
	{STMT_COL_CURRENCY, "标价币种", true},
	{STMT_COL_AMOUNT, "订单金额", true},
	{STMT_COL_AMOUNT, "总金额", true},
	{STMT_COL_AMOUNT, "应结订单金额", true},
	{STMT_COL_REFUND_ID, "微信退款单号", true},
	{STMT_COL_MERCHANT_REFUND, "商户退款单号", true},
	{STMT_COL_REFUND_AMOUNT, "申请退款金额", true},
	{STMT_COL_REFUND_AMOUNT, "退款金额", true},
	{STMT_COL_REFUND_STATUS, "退款状态", true},
	{STMT_COL_REFUND_TIME, "退款成功时间", false},
	{STMT_COL_FEE, "手续费", false},
	{0, NULL, false}
};

static const StmtColumnName stmt_alipay_columns[] = {
	{STMT_COL_TXN, "支付宝交易号", true},
	{STMT_COL_ORDER, "商户订单号", true},
	{STMT_COL_STATUS, "业务类型", true},
	{STMT_COL_TIME, "完成时间", true},
	{STMT_COL_AMOUNT, "订单金额（元）", true},
	{STMT_COL_AMOUNT, "订单金额(元)", true},
	{STMT_COL_MERCHANT_REFUND, "退款批次号/请求号", true},
	{STMT_COL_FEE, "服务费（元）", false},
	{STMT_COL_FEE, "服务费(元)", false},
	{0, NULL, false}
};

static const StmtColumnName stmt_stripe_columns[] = {
	{STMT_COL_LINE_REF, "id", true},
	{STMT_COL_STATUS, "Type", true},
	{STMT_COL_TXN, "Source", true},
	{STMT_COL_AMOUNT, "Amount", true},
	{STMT_COL_FEE, "Fee", false},
	{STMT_COL_CURRENCY, "Currency", true},
	{STMT_COL_TIME, "Created (UTC)", true},
	{STMT_COL_TIME, "Created", true},
	{STMT_COL_ORDER, "order_id (metadata)", true},
	{0, NULL, false}
};

/* csv: amount/amount_minor and fee/fee_minor are checked by hand */
static const StmtColumnName stmt_csv_columns[] = {
	{STMT_COL_TXN, "channel_txn_id", true},
	{STMT_COL_ORDER, "order_id", true},
	{STMT_COL_STATUS, "kind", false},
	{STMT_COL_CURRENCY, "currency", true},
	{STMT_COL_AMOUNT, "amount", false},
	{STMT_COL_AMOUNT_MINOR, "amount_minor", false},
	{STMT_COL_FEE, "fee", false},
	{STMT_COL_FEE_MINOR, "fee_minor", false},
	{STMT_COL_TIME, "settled_at", false},
	{STMT_COL_ORIGINAL_TXN, "original_txn_id", false},
	{STMT_COL_MERCHANT_REFUND, "merchant_refund_id", false},
	{0, NULL, false}
};

static const char *const stmt_format_names[] = {
	"wechatpay_tradebill", "alipay_bill", "stripe_balance", "csv"
};

/* How an amount's sign is checked */
typedef enum StmtSign
{
	STMT_SIGN_POSITIVE,			/* > 0, no sign */
	STMT_SIGN_EITHER,			/* != 0, either sign; the absolute value is kept */
	STMT_SIGN_ANY				/* anything, sign kept (fees) */
} StmtSign;

static StmtResult stmt_fail(StmtParser *p, StmtErrorCode code,
							const char *column, StmtField value,
							const char *fmt,...)
			__attribute__((format(printf, 5, 6)));

/* ---------------------------------------------------------------------- */

bool
StmtFormatFromName(const char *name, StmtFormat *format)
{
	int			i;

	for (i = 0; i < (int) (sizeof(stmt_format_names) / sizeof(stmt_format_names[0])); i++)
	{
		if (strcmp(name, stmt_format_names[i]) == 0)
		{
			*format = (StmtFormat) i;
			return true;
		}
	}
	return false;
}

const char *
StmtFormatName(StmtFormat format)
{
	return stmt_format_names[format];
}

bool
StmtNextLine(const char *s, size_t len, size_t *pos, const char **line,
			 size_t *linelen)
{
	const char *start;
	const char *nl;
	size_t		n;

	if (*pos >= len)
		return false;
	start = s + *pos;
	nl = memchr(start, '\n', len - *pos);
	n = nl ? (size_t) (nl - start) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	if (n > 0 && start[n - 1] == '\r')
		n--;
	*line = start;
	*linelen = n;
	return true;
}

void
StmtParserInit(StmtParser *p, StmtFormat format, const char *date)
{
	int			i;

	memset(p, 0, offsetof(StmtParser, rec));
	p->format = format;
	memcpy(p->date, date, 10);
	p->date[10] = '\0';
	p->state = STMT_ST_HEADER;
	for (i = 0; i < STMT_NUM_COLUMNS; i++)
		p->col[i] = -1;
}

/* Record an error and answer STMT_ERROR */
static StmtResult
stmt_fail(StmtParser *p, StmtErrorCode code, const char *column,
		  StmtField value, const char *fmt,...)
{
	va_list		ap;

	p->error.code = code;
	p->error.line = p->record_line;
	p->error.column = column;
	p->error.value = value;
	va_start(ap, fmt);
	vsnprintf(p->error.detail, sizeof(p->error.detail), fmt, ap);
	va_end(ap);
	return STMT_ERROR;
}

static StmtField
stmt_field(const char *s, size_t len)
{
	StmtField	f;

	f.p = s;
	f.len = len;
	return f;
}

static const StmtField stmt_empty = {"", 0};

static bool
stmt_field_is(StmtField f, const char *s)
{
	size_t		n = strlen(s);

	return f.len == n && memcmp(f.p, s, n) == 0;
}

static bool
stmt_blank(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/*
 * Split p->rec[0..len) into p->fields (unquoted, in p->buf).  Returns 1 on
 * success, 0 if a quoted field is still open at the end (the record goes
 * on on the next line), -1 on error.  Unquoted fields lose surrounding
 * blanks and tabs (Alipay appends a tab to its ids); a WeChat Pay field
 * loses one leading backtick.
 */
static int
stmt_split(StmtParser *p, size_t len)
{
	const char *s = p->rec;
	char	   *out = p->buf;
	size_t		i = 0;
	int			n = 0;

	for (;;)
	{
		char	   *start = out;
		bool		quoted = false;

		if (n >= STMT_MAX_FIELDS)
		{
			stmt_fail(p, STMT_E_TOO_LONG, NULL, stmt_empty,
					  "A record has at most %d fields.", STMT_MAX_FIELDS);
			return -1;
		}
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < len && s[i] == '"')
		{
			quoted = true;
			i++;
			for (;;)
			{
				if (i >= len)
					return 0;	/* newline inside quotes */
				if (s[i] == '"')
				{
					if (i + 1 < len && s[i + 1] == '"')
					{
						*out++ = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				*out++ = s[i++];
			}
			while (i < len && (s[i] == ' ' || s[i] == '\t'))
				i++;
			if (i < len && s[i] != ',')
			{
				stmt_fail(p, STMT_E_SYNTAX, NULL, stmt_field(s, len),
						  "A quoted field must be followed by a comma or the end of the line (field %d).",
						  n + 1);
				return -1;
			}
		}
		else
		{
			while (i < len && s[i] != ',')
				*out++ = s[i++];
			while (out > start && (out[-1] == ' ' || out[-1] == '\t'))
				out--;
		}
		p->fields[n].p = start;
		p->fields[n].len = out - start;
		if (!quoted && p->format == STMT_FMT_WECHATPAY &&
			p->fields[n].len > 0 && start[0] == '`')
		{
			p->fields[n].p++;
			p->fields[n].len--;
		}
		n++;
		if (i >= len)
			break;
		i++;					/* the comma */
	}
	p->nfields = n;
	return 1;
}

/* Map the header in p->fields to column roles */
static StmtResult
stmt_header(StmtParser *p)
{
	const StmtColumnName *names;
	bool		required[STMT_NUM_COLUMNS] = {false};
	const char *first_name[STMT_NUM_COLUMNS] = {NULL};
	int			i,
				j;

	switch (p->format)
	{
		case STMT_FMT_WECHATPAY:
			names = stmt_wechatpay_columns;
			break;
		case STMT_FMT_ALIPAY:
			names = stmt_alipay_columns;
			break;
		case STMT_FMT_STRIPE:
			names = stmt_stripe_columns;
			break;
		default:
			names = stmt_csv_columns;
			break;
	}

	/* the same name twice would make the mapping ambiguous */
	for (i = 0; i < p->nfields; i++)
		for (j = 0; j < i; j++)
			if (p->fields[i].len == p->fields[j].len &&
				memcmp(p->fields[i].p, p->fields[j].p, p->fields[i].len) == 0 &&
				p->fields[i].len > 0)
				return stmt_fail(p, STMT_E_COLUMN, NULL, p->fields[i],
								 "The header names a column twice.");

	for (; names->name != NULL; names++)
	{
		if (names->required)
			required[names->role] = true;
		if (first_name[names->role] == NULL)
			first_name[names->role] = names->name;
		if (p->col[names->role] >= 0)
			continue;
		for (i = 0; i < p->nfields; i++)
			if (stmt_field_is(p->fields[i], names->name))
			{
				p->col[names->role] = i;
				p->colname[names->role] = names->name;
				break;
			}
	}
	for (i = 0; i < STMT_NUM_COLUMNS; i++)
		if (required[i] && p->col[i] < 0)
			return stmt_fail(p, STMT_E_COLUMN, first_name[i], stmt_empty,
							 "The header of this %s file has no column \"%s\"%s.",
							 StmtFormatName(p->format), first_name[i],
							 p->col[STMT_COL_TXN] < 0 ?
							 " (is it really this format, and converted to the database encoding?)" : "");

	if (p->format == STMT_FMT_CSV)
	{
		if ((p->col[STMT_COL_AMOUNT] >= 0) == (p->col[STMT_COL_AMOUNT_MINOR] >= 0))
			return stmt_fail(p, STMT_E_COLUMN, "amount", stmt_empty,
							 "A csv statement has exactly one of the columns \"amount\" (major units) and \"amount_minor\" (minor units).");
		if (p->col[STMT_COL_FEE] >= 0 && p->col[STMT_COL_FEE_MINOR] >= 0)
			return stmt_fail(p, STMT_E_COLUMN, "fee", stmt_empty,
							 "A csv statement has at most one of the columns \"fee\" (major units) and \"fee_minor\" (minor units).");
	}
	p->ncolumns = p->nfields;
	p->state = STMT_ST_DETAIL;
	return STMT_NOTHING;
}

/* The field of a role, or an empty field if the file has no such column */
static StmtField
stmt_get(StmtParser *p, StmtColumn role)
{
	if (p->col[role] < 0)
		return stmt_empty;
	return p->fields[p->col[role]];
}

/* Check an id: 1..maxlen bytes (or empty if allowed), no control character */
static bool
stmt_id(StmtParser *p, StmtField f, const char *column, size_t maxlen,
		bool allow_empty)
{
	size_t		i;

	if (f.len == 0)
	{
		if (allow_empty)
			return true;
		stmt_fail(p, STMT_E_ID, column, f, "The column \"%s\" must not be empty.",
				  column);
		return false;
	}
	if (f.len > maxlen)
	{
		stmt_fail(p, STMT_E_ID, column, f,
				  "The column \"%s\" has %zu bytes; at most %zu are allowed.",
				  column, f.len, maxlen);
		return false;
	}
	for (i = 0; i < f.len; i++)
	{
		unsigned char c = (unsigned char) f.p[i];

		if (c < 0x20 || c == 0x7f)
		{
			stmt_fail(p, STMT_E_ID, column, f,
					  "The column \"%s\" contains a control character.", column);
			return false;
		}
	}
	return true;
}

/* A currency: three upper-case letters naming an ISO 4217 currency */
static bool
stmt_currency(StmtParser *p, StmtField f, const char *column, bool fold,
			  char *out, int *exponent)
{
	int			i;

	if (f.len == 3)
	{
		for (i = 0; i < 3; i++)
		{
			char		c = f.p[i];

			if (fold && c >= 'a' && c <= 'z')
				c = c - 'a' + 'A';
			out[i] = c;
		}
		out[3] = '\0';
		*exponent = PayconsCurrencyExponent(out, 3);
		if (*exponent >= 0)
			return true;
	}
	stmt_fail(p, STMT_E_CURRENCY, column, f,
			  "A currency is an active ISO 4217 code of three %sletters.",
			  fold ? "" : "upper-case ");
	return false;
}

/*
 * An amount in major units of a currency with the given exponent into
 * minor units (scale = 0) or thousandths of a minor unit (scale = 3).
 */
static bool
stmt_amount(StmtParser *p, StmtField f, const char *column, int exponent,
			int scale, StmtSign sign, int64_t *out)
{
	PayconsMoneyStatus st;
	int64_t		v;

	if (f.len == 0 && sign == STMT_SIGN_ANY)
	{
		*out = 0;
		return true;
	}
	st = PayconsParseMajorUnits(f.p, f.len, exponent + scale,
								sign != STMT_SIGN_POSITIVE, &v);
	if (st == PAYCONS_MONEY_NEGATIVE)
	{
		stmt_fail(p, STMT_E_SIGN, column, f,
				  "The amount of a payment must be greater than zero, without a sign.");
		return false;
	}
	if (st != PAYCONS_MONEY_OK)
	{
		if (st == PAYCONS_MONEY_PRECISION)
			stmt_fail(p, STMT_E_AMOUNT, column, f,
					  "The value has more than %d fractional digits; an amount is never rounded.",
					  exponent + scale);
		else
			stmt_fail(p, STMT_E_AMOUNT, column, f,
					  "The value is %s: a decimal amount with at most %d fractional digits is expected.",
					  PayconsMoneyStatusText(st), exponent + scale);
		return false;
	}
	if (sign != STMT_SIGN_ANY && v == 0)
	{
		stmt_fail(p, STMT_E_SIGN, column, f,
				  "The amount must not be zero.");
		return false;
	}
	if (sign == STMT_SIGN_EITHER && v < 0)
		v = -v;					/* cannot overflow: parsed from digits */
	*out = v;
	return true;
}

static bool
stmt_digits(const char *s, int n, int *v)
{
	int			i;

	*v = 0;
	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/*
 * A local time "YYYY-MM-DD HH:MM[:SS]" into out as "YYYY-MM-DD HH:MM:SS",
 * checked for a real calendar date; with check_date, its date must be the
 * statement's.
 */
static bool
stmt_time(StmtParser *p, StmtField f, const char *column, bool check_date,
		  char *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *s = f.p;
	int			y,
				mo,
				d,
				h,
				mi,
				sec = 0;
	bool		ok;

	ok = (f.len == 16 || f.len == 19) &&
		stmt_digits(s, 4, &y) && s[4] == '-' &&
		stmt_digits(s + 5, 2, &mo) && s[7] == '-' &&
		stmt_digits(s + 8, 2, &d) && s[10] == ' ' &&
		stmt_digits(s + 11, 2, &h) && s[13] == ':' &&
		stmt_digits(s + 14, 2, &mi) &&
		(f.len == 16 || (s[16] == ':' && stmt_digits(s + 17, 2, &sec)));
	if (ok)
		ok = y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] &&
			(mo != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) &&
			h <= 23 && mi <= 59 && sec <= 59;
	if (!ok)
	{
		stmt_fail(p, STMT_E_TIME, column, f,
				  "A time is written YYYY-MM-DD HH:MM:SS (or without seconds), in the file's time zone.");
		return false;
	}
	if (check_date && memcmp(s, p->date, 10) != 0)
	{
		stmt_fail(p, STMT_E_DATE, column, f,
				  "Every line of the statement of %s must be of that date.", p->date);
		return false;
	}
	memcpy(out, s, 16);
	snprintf(out + 16, 4, ":%02d", sec);
	return true;
}

/* Count of a "N笔" in an Alipay summary comment after key, or -1 */
static long
stmt_alipay_count(const char *s, size_t len, const char *key)
{
	size_t		klen = strlen(key);
	size_t		i;
	long		v = 0;
	int			digits = 0;

	for (i = 0; i + klen <= len; i++)
		if (memcmp(s + i, key, klen) == 0)
			break;
	if (i + klen > len)
		return -1;
	for (i += klen; i < len && s[i] >= '0' && s[i] <= '9' && digits < 12; i++, digits++)
		v = v * 10 + (s[i] - '0');
	if (digits == 0 || len - i < strlen("笔") || memcmp(s + i, "笔", strlen("笔")) != 0)
		return -2;
	return v;
}

/* ---------------------------------------------------------------------- */
/* Detail records, per format: fill *out or answer STMT_SKIPPED */

static StmtResult
stmt_wechatpay_detail(StmtParser *p, StmtLine *out)
{
	StmtField	status = stmt_get(p, STMT_COL_STATUS);
	int			exponent;

	if (stmt_field_is(status, "SUCCESS"))
		out->refund = false;
	else if (stmt_field_is(status, "REFUND"))
	{
		/* the bill is a snapshot: only a refund that succeeded moved money */
		if (!stmt_field_is(stmt_get(p, STMT_COL_REFUND_STATUS), "SUCCESS"))
			return STMT_SKIPPED;
		out->refund = true;
	}
	else
		return STMT_SKIPPED;	/* REVOKED and other non-money rows */

	if (!stmt_currency(p, stmt_get(p, STMT_COL_CURRENCY),
					   p->colname[STMT_COL_CURRENCY], false, out->currency, &exponent))
		return STMT_ERROR;
	out->order_id = stmt_get(p, STMT_COL_ORDER);
	if (!stmt_id(p, out->order_id, p->colname[STMT_COL_ORDER], STMT_MAX_ORDER_ID, false))
		return STMT_ERROR;
	if (!out->refund)
	{
		out->txn_id = stmt_get(p, STMT_COL_TXN);
		if (!stmt_id(p, out->txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
			!stmt_amount(p, stmt_get(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
						 exponent, 0, STMT_SIGN_POSITIVE, &out->amount) ||
			!stmt_time(p, stmt_get(p, STMT_COL_TIME), p->colname[STMT_COL_TIME],
					   true, out->settled_at))
			return STMT_ERROR;
		out->has_settled = true;
	}
	else
	{
		StmtField	rtime = stmt_get(p, STMT_COL_REFUND_TIME);

		out->txn_id = stmt_get(p, STMT_COL_REFUND_ID);
		out->original_txn_id = stmt_get(p, STMT_COL_TXN);
		out->merchant_refund_id = stmt_get(p, STMT_COL_MERCHANT_REFUND);
		if (!stmt_id(p, out->txn_id, p->colname[STMT_COL_REFUND_ID], STMT_MAX_ID, false) ||
			!stmt_id(p, out->original_txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, true) ||
			!stmt_id(p, out->merchant_refund_id, p->colname[STMT_COL_MERCHANT_REFUND],
					 STMT_MAX_ID, true) ||
			!stmt_amount(p, stmt_get(p, STMT_COL_REFUND_AMOUNT),
						 p->colname[STMT_COL_REFUND_AMOUNT],
						 exponent, 0, STMT_SIGN_POSITIVE, &out->amount))
			return STMT_ERROR;

		/*
		 * 交易时间 of a refund row is not the refund's time in every bill
		 * version; only an explicit refund time is used and checked.
		 */
		if (rtime.len > 0)
		{
			if (!stmt_time(p, rtime, p->colname[STMT_COL_REFUND_TIME], true,
						   out->settled_at))
				return STMT_ERROR;
			out->has_settled = true;
		}
	}
	/* 手续费 has five decimals (thousandths of a fen); negative on refunds */
	if (!stmt_amount(p, stmt_get(p, STMT_COL_FEE), p->colname[STMT_COL_FEE],
					 exponent, 3, STMT_SIGN_ANY, &out->fee_milli))
		return STMT_ERROR;
	return STMT_LINE;
}

static StmtResult
stmt_alipay_detail(StmtParser *p, StmtLine *out)
{
	StmtField	type = stmt_get(p, STMT_COL_STATUS);
	int64_t		fee;

	if (stmt_field_is(type, "交易"))
		out->refund = false;
	else if (stmt_field_is(type, "退款"))
		out->refund = true;
	else
		return STMT_SKIPPED;

	memcpy(out->currency, "CNY", 4);
	out->order_id = stmt_get(p, STMT_COL_ORDER);
	if (!stmt_id(p, out->order_id, p->colname[STMT_COL_ORDER], STMT_MAX_ORDER_ID, false))
		return STMT_ERROR;
	if (!out->refund)
	{
		out->txn_id = stmt_get(p, STMT_COL_TXN);
		if (!stmt_id(p, out->txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
			!stmt_amount(p, stmt_get(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
						 2, 0, STMT_SIGN_POSITIVE, &out->amount))
			return STMT_ERROR;
	}
	else
	{
		/* a refund is known by its request number (out_request_no) */
		out->txn_id = stmt_get(p, STMT_COL_MERCHANT_REFUND);
		out->merchant_refund_id = out->txn_id;
		out->original_txn_id = stmt_get(p, STMT_COL_TXN);
		if (!stmt_id(p, out->txn_id, p->colname[STMT_COL_MERCHANT_REFUND], STMT_MAX_ID, false) ||
			!stmt_id(p, out->original_txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
			!stmt_amount(p, stmt_get(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
						 2, 0, STMT_SIGN_EITHER, &out->amount))
			return STMT_ERROR;
	}
	if (!stmt_time(p, stmt_get(p, STMT_COL_TIME), p->colname[STMT_COL_TIME], true,
				   out->settled_at))
		return STMT_ERROR;
	out->has_settled = true;
	/* 服务费 is written from the merchant's side: negative when charged */
	if (!stmt_amount(p, stmt_get(p, STMT_COL_FEE), p->colname[STMT_COL_FEE],
					 2, 3, STMT_SIGN_ANY, &fee))
		return STMT_ERROR;
	out->fee_milli = -fee;
	return STMT_LINE;
}

static StmtResult
stmt_stripe_detail(StmtParser *p, StmtLine *out)
{
	StmtField	type = stmt_get(p, STMT_COL_STATUS);
	int			exponent;

	if (stmt_field_is(type, "charge") || stmt_field_is(type, "payment"))
		out->refund = false;
	else if (stmt_field_is(type, "refund") || stmt_field_is(type, "payment_refund"))
		out->refund = true;
	else
		return STMT_SKIPPED;	/* payout, transfer, adjustment, stripe_fee, ... */

	out->txn_id = stmt_get(p, STMT_COL_TXN);
	out->line_ref = stmt_get(p, STMT_COL_LINE_REF);
	out->order_id = stmt_get(p, STMT_COL_ORDER);
	if (!stmt_id(p, out->txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
		!stmt_id(p, out->line_ref, p->colname[STMT_COL_LINE_REF], STMT_MAX_ID, true) ||
		!stmt_id(p, out->order_id, p->colname[STMT_COL_ORDER], STMT_MAX_ORDER_ID, false) ||
		!stmt_currency(p, stmt_get(p, STMT_COL_CURRENCY), p->colname[STMT_COL_CURRENCY],
					   true, out->currency, &exponent) ||
		!stmt_amount(p, stmt_get(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
					 exponent, 0, out->refund ? STMT_SIGN_EITHER : STMT_SIGN_POSITIVE,
					 &out->amount) ||
		!stmt_amount(p, stmt_get(p, STMT_COL_FEE), p->colname[STMT_COL_FEE],
					 exponent, 3, STMT_SIGN_ANY, &out->fee_milli) ||
		!stmt_time(p, stmt_get(p, STMT_COL_TIME), p->colname[STMT_COL_TIME], true,
				   out->settled_at))
		return STMT_ERROR;
	out->has_settled = true;
	return STMT_LINE;
}

static StmtResult
stmt_csv_detail(StmtParser *p, StmtLine *out)
{
	StmtField	kind = stmt_get(p, STMT_COL_STATUS);
	StmtField	settled = stmt_get(p, STMT_COL_TIME);
	int			exponent;

	if (kind.len == 0 || stmt_field_is(kind, "payment"))
		out->refund = false;
	else if (stmt_field_is(kind, "refund"))
		out->refund = true;
	else
		return stmt_fail(p, STMT_E_KIND, "kind", kind,
						 "The kind of a csv statement line is payment or refund.");

	out->txn_id = stmt_get(p, STMT_COL_TXN);
	out->order_id = stmt_get(p, STMT_COL_ORDER);
	out->original_txn_id = stmt_get(p, STMT_COL_ORIGINAL_TXN);
	out->merchant_refund_id = stmt_get(p, STMT_COL_MERCHANT_REFUND);
	if (!stmt_id(p, out->txn_id, "channel_txn_id", STMT_MAX_ID, false) ||
		!stmt_id(p, out->order_id, "order_id", STMT_MAX_ORDER_ID, false) ||
		!stmt_id(p, out->original_txn_id, "original_txn_id", STMT_MAX_ID, true) ||
		!stmt_id(p, out->merchant_refund_id, "merchant_refund_id", STMT_MAX_ID, true) ||
		!stmt_currency(p, stmt_get(p, STMT_COL_CURRENCY), "currency", false,
					   out->currency, &exponent))
		return STMT_ERROR;

	if (p->col[STMT_COL_AMOUNT] >= 0)
	{
		if (!stmt_amount(p, stmt_get(p, STMT_COL_AMOUNT), "amount", exponent, 0,
						 STMT_SIGN_POSITIVE, &out->amount))
			return STMT_ERROR;
	}
	else
	{
		StmtField	f = stmt_get(p, STMT_COL_AMOUNT_MINOR);
		PayconsMoneyStatus st = PayconsParseMinorUnits(f.p, f.len, false, &out->amount);

		if (st == PAYCONS_MONEY_NEGATIVE || (st == PAYCONS_MONEY_OK && out->amount == 0))
			return stmt_fail(p, STMT_E_SIGN, "amount_minor", f,
							 "The amount of a line must be greater than zero, without a sign.");
		if (st != PAYCONS_MONEY_OK)
			return stmt_fail(p, STMT_E_AMOUNT, "amount_minor", f,
							 "The value is %s: a whole number of minor units is expected.",
							 PayconsMoneyStatusText(st));
	}

	if (p->col[STMT_COL_FEE_MINOR] >= 0)
	{
		StmtField	f = stmt_get(p, STMT_COL_FEE_MINOR);
		int64_t		fee = 0;
		PayconsMoneyStatus st = PAYCONS_MONEY_OK;

		if (f.len > 0)
			st = PayconsParseMinorUnits(f.p, f.len, true, &fee);
		if (st == PAYCONS_MONEY_OK && (fee > INT64_MAX / 1000 || fee < INT64_MIN / 1000))
			st = PAYCONS_MONEY_RANGE;
		if (st != PAYCONS_MONEY_OK)
			return stmt_fail(p, STMT_E_AMOUNT, "fee_minor", f,
							 "The value is %s: a whole number of minor units is expected.",
							 PayconsMoneyStatusText(st));
		out->fee_milli = fee * 1000;
	}
	else if (!stmt_amount(p, stmt_get(p, STMT_COL_FEE), "fee", exponent, 3,
						  STMT_SIGN_ANY, &out->fee_milli))
		return STMT_ERROR;

	if (settled.len > 0)
	{
		if (!stmt_time(p, settled, "settled_at", true, out->settled_at))
			return STMT_ERROR;
		out->has_settled = true;
	}
	return STMT_LINE;
}

/* ---------------------------------------------------------------------- */

/* A record of the trailer part: summaries and comments */
static StmtResult
stmt_trailer(StmtParser *p, const char *s, size_t len)
{
	if (p->format == STMT_FMT_ALIPAY)
	{
		long		n;

		if (len == 0 || s[0] != '#')
			return stmt_fail(p, STMT_E_SYNTAX, NULL, stmt_field(s, len),
							 "Only '#' comment lines may follow the detail lines of an Alipay bill.");
		if ((n = stmt_alipay_count(s, len, "#交易合计：")) != -1)
		{
			if (n != p->payments)
				return stmt_fail(p, STMT_E_SUMMARY, NULL, stmt_field(s, len),
								 "The summary counts %ld trade lines, the file has %ld.",
								 n, p->payments);
			p->summary_payments_seen = true;
		}
		else if ((n = stmt_alipay_count(s, len, "#退款合计：")) != -1)
		{
			if (n != p->refunds)
				return stmt_fail(p, STMT_E_SUMMARY, NULL, stmt_field(s, len),
								 "The summary counts %ld refund lines, the file has %ld.",
								 n, p->refunds);
			p->summary_refunds_seen = true;
		}
		return STMT_NOTHING;
	}

	/* WeChat Pay: the summary values, after the summary header */
	if (p->state == STMT_ST_SUMMARY_HEAD)
	{
		int			r = stmt_split(p, len);
		StmtField	f;
		long		n = 0;
		size_t		i;

		if (r < 0)
			return STMT_ERROR;
		if (r == 0)
			return stmt_fail(p, STMT_E_SYNTAX, NULL, stmt_field(s, len),
							 "A quoted field is not closed.");
		f = p->fields[0];
		for (i = 0; i < f.len && i < 12 && f.p[i] >= '0' && f.p[i] <= '9'; i++)
			n = n * 10 + (f.p[i] - '0');
		if (f.len == 0 || i != f.len)
			return stmt_fail(p, STMT_E_SUMMARY, "总交易单数", f,
							 "The summary line must start with the number of detail lines.");
		if (n != p->details)
			return stmt_fail(p, STMT_E_SUMMARY, "总交易单数", f,
							 "The summary counts %ld lines, the file has %ld.",
							 n, p->details);
		p->state = STMT_ST_TRAILER;
		return STMT_NOTHING;
	}
	return stmt_fail(p, STMT_E_SYNTAX, NULL, stmt_field(s, len),
					 "Nothing may follow the summary of a WeChat Pay trade bill.");
}

StmtResult
StmtParserFeed(StmtParser *p, const char *line, size_t len, StmtLine *out)
{
	const char *s;
	int			r;
	StmtResult	res;

	p->lineno++;
	if (p->pending == 0)
		p->record_line = p->lineno;
	/* a UTF-8 byte order mark before the first line */
	if (p->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
	{
		line += 3;
		len -= 3;
	}
	if (p->pending + len + (p->pending ? 1 : 0) > STMT_MAX_RECORD)
		return stmt_fail(p, STMT_E_TOO_LONG, NULL, stmt_field(line, len > 64 ? 64 : len),
						 "A record has at most %d bytes.", STMT_MAX_RECORD);
	if (p->pending > 0)
		p->rec[p->pending++] = '\n';
	memcpy(p->rec + p->pending, line, len);
	len += p->pending;
	p->pending = 0;
	s = p->rec;

	if (p->state == STMT_ST_DONE)
		return STMT_NOTHING;

	/* blank lines are nothing anywhere */
	if (stmt_blank(s, len))
		return STMT_NOTHING;

	if (p->state == STMT_ST_HEADER)
	{
		if (p->format == STMT_FMT_ALIPAY && s[0] == '#')
			return STMT_NOTHING;
		r = stmt_split(p, len);
		if (r < 0)
			return STMT_ERROR;
		if (r == 0)
		{
			p->pending = len;
			return STMT_MORE;
		}
		return stmt_header(p);
	}

	if (p->state == STMT_ST_SUMMARY_HEAD || p->state == STMT_ST_TRAILER)
		return stmt_trailer(p, s, len);

	/* detail part */
	if (p->format == STMT_FMT_ALIPAY && s[0] == '#')
	{
		p->state = STMT_ST_TRAILER;
		return stmt_trailer(p, s, len);
	}
	if (p->format == STMT_FMT_WECHATPAY && len >= strlen("总交易单数") &&
		memcmp(s, "总交易单数", strlen("总交易单数")) == 0)
	{
		p->state = STMT_ST_SUMMARY_HEAD;
		return STMT_NOTHING;
	}
	r = stmt_split(p, len);
	if (r < 0)
		return STMT_ERROR;
	if (r == 0)
	{
		p->pending = len;
		return STMT_MORE;
	}
	if (p->nfields != p->ncolumns)
		return stmt_fail(p, STMT_E_SYNTAX, NULL, stmt_empty,
						 "The line has %d fields, the header has %d.",
						 p->nfields, p->ncolumns);

	memset(out, 0, sizeof(StmtLine));
	out->txn_id = out->order_id = out->original_txn_id = stmt_empty;
	out->merchant_refund_id = out->line_ref = stmt_empty;
	out->line = p->record_line;
	p->details++;
	switch (p->format)
	{
		case STMT_FMT_WECHATPAY:
			res = stmt_wechatpay_detail(p, out);
			break;
		case STMT_FMT_ALIPAY:
			res = stmt_alipay_detail(p, out);
			if (res == STMT_LINE)
			{
				if (out->refund)
					p->refunds++;
				else
					p->payments++;
			}
			break;
		case STMT_FMT_STRIPE:
			res = stmt_stripe_detail(p, out);
			break;
		default:
			res = stmt_csv_detail(p, out);
			break;
	}
	return res;
}

StmtResult
StmtParserFinish(StmtParser *p)
{
	p->record_line = p->lineno > 0 ? p->lineno : 1;
	if (p->pending > 0)
		return stmt_fail(p, STMT_E_SYNTAX, NULL, stmt_empty,
						 "The file ends inside a quoted field.");
	if (p->state == STMT_ST_HEADER)
		return stmt_fail(p, STMT_E_COLUMN, NULL, stmt_empty,
						 "The file has no header line.");
	if (p->format == STMT_FMT_WECHATPAY && p->state != STMT_ST_TRAILER)
		return stmt_fail(p, STMT_E_SUMMARY, NULL, stmt_empty,
						 "The file ends without the summary of a WeChat Pay trade bill (is it truncated?).");
	if (p->format == STMT_FMT_ALIPAY &&
		(!p->summary_payments_seen || !p->summary_refunds_seen))
		return stmt_fail(p, STMT_E_SUMMARY, NULL, stmt_empty,
						 "The file ends without the #交易合计 and #退款合计 summary lines of an Alipay bill (is it truncated?).");
	p->state = STMT_ST_DONE;
	return STMT_NOTHING;
}
