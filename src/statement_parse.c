/*-------------------------------------------------------------------------
 *
 * statement_parse.c
 *	  Reading a statement file record by record: CSV splitting with quotes
 *	  (and WeChat Pay's backtick prefixes), Alipay's '#' comment lines, the
 *	  header row mapped to column roles (statement_formats.c says which
 *	  names), detail records handed to the format's mapper, and the checks
 *	  of the files' summary blocks.
 *
 * Backend-free (see statement_parse.h): no palloc, no ereport.
 *
 * IDENTIFICATION
 *	  src/statement_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "statement_fields.h"
#include "statement_formats.h"
#include "statement_parse.h"

static const char *const stmt_format_names[] = {
	"wechatpay_tradebill", "alipay_bill", "stripe_balance", "csv"
};

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
			StmtFail(p, STMT_E_TOO_LONG, NULL, StmtNoField,
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
				StmtFail(p, STMT_E_SYNTAX, NULL, StmtFieldOf(s, len),
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

	names = StmtFormatColumns(p->format);

	/* the same name twice would make the mapping ambiguous */
	for (i = 0; i < p->nfields; i++)
		for (j = 0; j < i; j++)
			if (p->fields[i].len == p->fields[j].len &&
				memcmp(p->fields[i].p, p->fields[j].p, p->fields[i].len) == 0 &&
				p->fields[i].len > 0)
				return StmtFail(p, STMT_E_COLUMN, NULL, p->fields[i],
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
			if (StmtFieldIs(p->fields[i], names->name))
			{
				p->col[names->role] = i;
				p->colname[names->role] = names->name;
				break;
			}
	}
	for (i = 0; i < STMT_NUM_COLUMNS; i++)
		if (required[i] && p->col[i] < 0)
			return StmtFail(p, STMT_E_COLUMN, first_name[i], StmtNoField,
							"The header of this %s file has no column \"%s\"%s.",
							StmtFormatName(p->format), first_name[i],
							p->col[STMT_COL_TXN] < 0 ?
							" (is it really this format, and converted to the database encoding?)" : "");

	if (p->format == STMT_FMT_CSV)
	{
		if ((p->col[STMT_COL_AMOUNT] >= 0) == (p->col[STMT_COL_AMOUNT_MINOR] >= 0))
			return StmtFail(p, STMT_E_COLUMN, "amount", StmtNoField,
							"A csv statement has exactly one of the columns \"amount\" (major units) and \"amount_minor\" (minor units).");
		if (p->col[STMT_COL_FEE] >= 0 && p->col[STMT_COL_FEE_MINOR] >= 0)
			return StmtFail(p, STMT_E_COLUMN, "fee", StmtNoField,
							"A csv statement has at most one of the columns \"fee\" (major units) and \"fee_minor\" (minor units).");
	}
	p->ncolumns = p->nfields;
	p->state = STMT_ST_DETAIL;
	return STMT_NOTHING;
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

/* A record of the trailer part: summaries and comments */
static StmtResult
stmt_trailer(StmtParser *p, const char *s, size_t len)
{
	if (p->format == STMT_FMT_ALIPAY)
	{
		long		n;

		if (len == 0 || s[0] != '#')
			return StmtFail(p, STMT_E_SYNTAX, NULL, StmtFieldOf(s, len),
							"Only '#' comment lines may follow the detail lines of an Alipay bill.");
		if ((n = stmt_alipay_count(s, len, "#交易合计：")) != -1)
		{
			if (n != p->payments)
				return StmtFail(p, STMT_E_SUMMARY, NULL, StmtFieldOf(s, len),
								"The summary counts %ld trade lines, the file has %ld.",
								n, p->payments);
			p->summary_payments_seen = true;
		}
		else if ((n = stmt_alipay_count(s, len, "#退款合计：")) != -1)
		{
			if (n != p->refunds)
				return StmtFail(p, STMT_E_SUMMARY, NULL, StmtFieldOf(s, len),
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
			return StmtFail(p, STMT_E_SYNTAX, NULL, StmtFieldOf(s, len),
							"A quoted field is not closed.");
		f = p->fields[0];
		for (i = 0; i < f.len && i < 12 && f.p[i] >= '0' && f.p[i] <= '9'; i++)
			n = n * 10 + (f.p[i] - '0');
		if (f.len == 0 || i != f.len)
			return StmtFail(p, STMT_E_SUMMARY, "总交易单数", f,
							"The summary line must start with the number of detail lines.");
		if (n != p->details)
			return StmtFail(p, STMT_E_SUMMARY, "总交易单数", f,
							"The summary counts %ld lines, the file has %ld.",
							n, p->details);
		p->state = STMT_ST_TRAILER;
		return STMT_NOTHING;
	}
	return StmtFail(p, STMT_E_SYNTAX, NULL, StmtFieldOf(s, len),
					"Nothing may follow the summary of a WeChat Pay trade bill.");
}

StmtResult
StmtParserFeed(StmtParser *p, const char *line, size_t len, StmtLine *out)
{
	const char *s;
	int			r;

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
		return StmtFail(p, STMT_E_TOO_LONG, NULL, StmtFieldOf(line, len > 64 ? 64 : len),
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
		return StmtFail(p, STMT_E_SYNTAX, NULL, StmtNoField,
						"The line has %d fields, the header has %d.",
						p->nfields, p->ncolumns);

	memset(out, 0, sizeof(StmtLine));
	out->txn_id = out->order_id = out->original_txn_id = StmtNoField;
	out->merchant_refund_id = out->line_ref = StmtNoField;
	out->line = p->record_line;
	p->details++;
	return StmtFormatDetail(p, out);
}

StmtResult
StmtParserFinish(StmtParser *p)
{
	p->record_line = p->lineno > 0 ? p->lineno : 1;
	if (p->pending > 0)
		return StmtFail(p, STMT_E_SYNTAX, NULL, StmtNoField,
						"The file ends inside a quoted field.");
	if (p->state == STMT_ST_HEADER)
		return StmtFail(p, STMT_E_COLUMN, NULL, StmtNoField,
						"The file has no header line.");
	if (p->format == STMT_FMT_WECHATPAY && p->state != STMT_ST_TRAILER)
		return StmtFail(p, STMT_E_SUMMARY, NULL, StmtNoField,
						"The file ends without the summary of a WeChat Pay trade bill (is it truncated?).");
	if (p->format == STMT_FMT_ALIPAY &&
		(!p->summary_payments_seen || !p->summary_refunds_seen))
		return StmtFail(p, STMT_E_SUMMARY, NULL, StmtNoField,
						"The file ends without the #交易合计 and #退款合计 summary lines of an Alipay bill (is it truncated?).");
	p->state = STMT_ST_DONE;
	return STMT_NOTHING;
}
