/*-------------------------------------------------------------------------
 *
 * statement_fields.h
 *	  Checking the values of statement files one field at a time, for the
 *	  statement parsers (statement_parse.c, statement_formats.c): ids,
 *	  currencies, amounts, times, and the parser's error record.
 *
 * Backend-free, like statement_parse.h.  Each check answers false (or
 * StmtFail answers STMT_ERROR) after recording the error in p->error.
 *
 * IDENTIFICATION
 *	  src/statement_fields.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STATEMENT_FIELDS_H
#define PAYCONS_STATEMENT_FIELDS_H

#include "statement_parse.h"

/* How an amount's sign is checked */
typedef enum StmtSign
{
	STMT_SIGN_POSITIVE,			/* > 0, no sign */
	STMT_SIGN_EITHER,			/* != 0, either sign; the absolute value is kept */
	STMT_SIGN_ANY				/* anything, sign kept (fees) */
} StmtSign;

/* The empty field */
extern const StmtField StmtNoField;

static inline StmtField
StmtFieldOf(const char *s, size_t len)
{
	StmtField	f;

	f.p = s;
	f.len = len;
	return f;
}

/* Record an error (detail: printf format) and answer STMT_ERROR */
extern StmtResult StmtFail(StmtParser *p, StmtErrorCode code,
						   const char *column, StmtField value,
						   const char *fmt,...)
			__attribute__((format(printf, 5, 6)));

/* Is the field exactly the NUL-terminated s? */
extern bool StmtFieldIs(StmtField f, const char *s);

/* The field of a role in the current record, or the empty field */
extern StmtField StmtGet(StmtParser *p, StmtColumn role);

/* An id: 1..maxlen bytes (or empty if allowed), no control character */
extern bool StmtCheckId(StmtParser *p, StmtField f, const char *column,
						size_t maxlen, bool allow_empty);

/*
 * A currency: an active ISO 4217 code of three upper-case letters (any case
 * with fold) into out (4 bytes, NUL-terminated), with its exponent.
 */
extern bool StmtCheckCurrency(StmtParser *p, StmtField f, const char *column,
							  bool fold, char *out, int *exponent);

/*
 * An amount in major units of a currency with the given exponent into
 * minor units (scale = 0) or thousandths of a minor unit (scale = 3).
 */
extern bool StmtCheckAmount(StmtParser *p, StmtField f, const char *column,
							int exponent, int scale, StmtSign sign,
							int64_t *out);

/*
 * A local time "YYYY-MM-DD HH:MM[:SS]" into out (20 bytes) as
 * "YYYY-MM-DD HH:MM:SS"; with check_date, its date must be the statement's.
 */
extern bool StmtCheckTime(StmtParser *p, StmtField f, const char *column,
						  bool check_date, char *out);

#endif							/* PAYCONS_STATEMENT_FIELDS_H */
