/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks of the arguments of the paycons SQL API.
 *
 * Every check either returns or raises an ERROR with a specific SQLSTATE
 * and a message that names the offending value, before anything is written.
 * The SQL functions are declared non-STRICT so that a NULL argument gets a
 * clear error instead of a silent NULL result.
 *
 * IDENTIFICATION
 *	  src/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "errcodes.h"
#include "validate.h"

/* Raise 22004 if argument argno is NULL. */
void
PayconsRequireArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", argname)));
}

/*
 * An identifier (order id, channel, transaction id): not empty, at most
 * maxbytes bytes, no control characters.  Returns it as a C string.
 */
char *
PayconsCheckId(text *value, const char *what, int maxbytes)
{
	char	   *str = text_to_cstring(value);
	int			len = strlen(str);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_IDENTIFIER),
				 errmsg("%s must not be empty", what)));
	if (len > maxbytes)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s \"%.*s...\" is too long", what,
						pg_mbcliplen(str, len, 32), str),
				 errdetail("It has %d bytes; the maximum is %d.", len, maxbytes)));
	for (int i = 0; i < len; i++)
	{
		if ((unsigned char) str[i] < 0x20 || str[i] == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_INVALID_IDENTIFIER),
					 errmsg("%s \"%s\" contains a control character", what,
							str)));
	}
	return str;
}

/* A money amount in minor units: strictly positive. */
void
PayconsCheckAmount(int64 amount, const char *what)
{
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_AMOUNT),
				 errmsg("%s must be positive: " INT64_FORMAT, what, amount),
				 errhint("Amounts are bigint minor units (cents, fen).")));
}

/* An ISO 4217 code: exactly three upper-case ASCII letters. */
char *
PayconsCheckCurrency(text *value)
{
	char	   *str = text_to_cstring(value);

	if (strlen(str) != 3 ||
		str[0] < 'A' || str[0] > 'Z' ||
		str[1] < 'A' || str[1] > 'Z' ||
		str[2] < 'A' || str[2] > 'Z')
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_INVALID_CURRENCY),
				 errmsg("invalid currency code: \"%s\"", str),
				 errhint("Use an ISO 4217 code of three upper-case letters, such as \"USD\" or \"CNY\".")));
	return str;
}
