/*-------------------------------------------------------------------------
 *
 * statement_fields.c
 *	  The values of statement files, checked one field at a time: ids,
 *	  ISO 4217 currencies, amounts in major units turned into exact minor
 *	  units (money.c), local times and the check of each line's date; and
 *	  the parser's error record.  Used by the per-format mappers
 *	  (statement_formats.c) and the record reader (statement_parse.c).
 *
 * Backend-free (see statement_parse.h): no palloc, no ereport.  Each check
 * answers false after recording the error in the parser (StmtFail).
 *
 * IDENTIFICATION
 *	  src/statement_fields.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "statement_fields.h"

const StmtField StmtNoField = {"", 0};

/* Record an error and answer STMT_ERROR */
StmtResult
StmtFail(StmtParser *p, StmtErrorCode code, const char *column,
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

bool
StmtFieldIs(StmtField f, const char *s)
{
	size_t		n = strlen(s);

	return f.len == n && memcmp(f.p, s, n) == 0;
}

/* The field of a role, or an empty field if the file has no such column */
StmtField
StmtGet(StmtParser *p, StmtColumn role)
{
	if (p->col[role] < 0)
		return StmtNoField;
	return p->fields[p->col[role]];
}

/* Check an id: 1..maxlen bytes (or empty if allowed), no control character */
bool
StmtCheckId(StmtParser *p, StmtField f, const char *column, size_t maxlen,
			bool allow_empty)
{
	size_t		i;

	if (f.len == 0)
	{
		if (allow_empty)
			return true;
		StmtFail(p, STMT_E_ID, column, f, "The column \"%s\" must not be empty.",
				 column);
		return false;
	}
	if (f.len > maxlen)
	{
		StmtFail(p, STMT_E_ID, column, f,
				 "The column \"%s\" has %zu bytes; at most %zu are allowed.",
				 column, f.len, maxlen);
		return false;
	}
	for (i = 0; i < f.len; i++)
	{
		unsigned char c = (unsigned char) f.p[i];

		if (c < 0x20 || c == 0x7f)
		{
			StmtFail(p, STMT_E_ID, column, f,
					 "The column \"%s\" contains a control character.", column);
			return false;
		}
	}
	return true;
}

/* A currency: three upper-case letters naming an ISO 4217 currency */
bool
StmtCheckCurrency(StmtParser *p, StmtField f, const char *column, bool fold,
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
	StmtFail(p, STMT_E_CURRENCY, column, f,
			 "A currency is an active ISO 4217 code of three %sletters.",
			 fold ? "" : "upper-case ");
	return false;
}

/*
 * An amount in major units of a currency with the given exponent into
 * minor units (scale = 0) or thousandths of a minor unit (scale = 3).
 */
bool
StmtCheckAmount(StmtParser *p, StmtField f, const char *column, int exponent,
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
		StmtFail(p, STMT_E_SIGN, column, f,
				 "The amount of a payment must be greater than zero, without a sign.");
		return false;
	}
	if (st != PAYCONS_MONEY_OK)
	{
		if (st == PAYCONS_MONEY_PRECISION)
			StmtFail(p, STMT_E_AMOUNT, column, f,
					 "The value has more than %d fractional digits; an amount is never rounded.",
					 exponent + scale);
		else
			StmtFail(p, STMT_E_AMOUNT, column, f,
					 "The value is %s: a decimal amount with at most %d fractional digits is expected.",
					 PayconsMoneyStatusText(st), exponent + scale);
		return false;
	}
	if (sign != STMT_SIGN_ANY && v == 0)
	{
		StmtFail(p, STMT_E_SIGN, column, f,
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
bool
StmtCheckTime(StmtParser *p, StmtField f, const char *column, bool check_date,
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
		StmtFail(p, STMT_E_TIME, column, f,
				 "A time is written YYYY-MM-DD HH:MM:SS (or without seconds), in the file's time zone.");
		return false;
	}
	if (check_date && memcmp(s, p->date, 10) != 0)
	{
		StmtFail(p, STMT_E_DATE, column, f,
				 "Every line of the statement of %s must be of that date.", p->date);
		return false;
	}
	memcpy(out, s, 16);
	snprintf(out + 16, 4, ":%02d", sec);
	return true;
}
