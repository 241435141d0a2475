/*-------------------------------------------------------------------------
 *
 * fuzz_statement.c
 *	  libFuzzer target for the statement parsers (src/statement_parse.c):
 *	  the first byte picks the format, the rest is a statement file fed
 *	  line by line, as statement_load.c does.  The parser must never crash,
 *	  read out of bounds or return a line that breaks its own contract.
 *
 * Build and run: make fuzz (every target), make fuzz-statement (this one),
 * or bash test/fuzz/run.sh statement.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_statement.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "statement_parse.h"

static StmtParser *parser;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	size_t		pos = 0,
				len;
	const char *line;
	StmtLine	out;

	if (size < 1)
		return 0;
	if (parser == NULL)
		parser = malloc(sizeof(StmtParser));
	StmtParserInit(parser, (StmtFormat) (data[0] % 4), "2026-11-20");
	s = (const char *) data + 1;
	len = size - 1;
	for (;;)
	{
		size_t		linelen;
		StmtResult	r;

		if (!StmtNextLine(s, len, &pos, &line, &linelen))
			break;
		r = StmtParserFeed(parser, line, linelen, &out);
		if (r == STMT_ERROR)
			return 0;
		if (r == STMT_LINE)
		{
			/* the contract of a line */
			if (out.amount <= 0 || out.txn_id.len == 0 || out.order_id.len == 0 ||
				out.txn_id.len > STMT_MAX_ID || out.order_id.len > STMT_MAX_ORDER_ID ||
				PayconsCurrencyExponent(out.currency, 3) < 0 ||
				(out.has_settled && memcmp(out.settled_at, "2026-11-20", 10) != 0))
				abort();
		}
	}
	(void) StmtParserFinish(parser);
	return 0;
}
