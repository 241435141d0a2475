/*-------------------------------------------------------------------------
 *
 * statement_formats.h
 *	  The statement formats' column names and detail-record mappers, for
 *	  the record reader (statement_parse.c).
 *
 * Backend-free, like statement_parse.h.
 *
 * IDENTIFICATION
 *	  src/statement_formats.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STATEMENT_FORMATS_H
#define PAYCONS_STATEMENT_FORMATS_H

#include "statement_parse.h"

/* One accepted header name of a column role */
typedef struct StmtColumnName
{
	StmtColumn	role;
	const char *name;
	bool		required;
} StmtColumnName;

/*
 * The header names of a format, ended by an entry with name NULL.  A role
 * listed more than once takes the first name the header has; a role is
 * required if any of its entries says so.
 */
extern const StmtColumnName *StmtFormatColumns(StmtFormat format);

/*
 * Map the current detail record (p->fields, columns mapped by the header)
 * to *out (prepared by the caller: empty ids, the record's line): STMT_LINE,
 * STMT_SKIPPED (not a payment or refund) or STMT_ERROR.
 */
extern StmtResult StmtFormatDetail(StmtParser *p, StmtLine *out);

#endif							/* PAYCONS_STATEMENT_FORMATS_H */
