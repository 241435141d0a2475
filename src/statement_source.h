/*-------------------------------------------------------------------------
 *
 * statement_source.h
 *	  Reading a statement file line by line, for the loader
 *	  (statement_load.c): from the text given to load_statement, or from
 *	  the rows of an upload table given to load_statement_upload.
 *
 * IDENTIFICATION
 *	  src/statement_source.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STATEMENT_SOURCE_H
#define PAYCONS_STATEMENT_SOURCE_H

#include "executor/spi.h"

typedef struct StmtSource
{
	/* the file as text (upload invalid) */
	const char *content;
	size_t		content_len;
	size_t		pos;

	/* or an upload table, read through SPI */
	Oid			upload;
	char	   *upload_sql;		/* in physical order */
	char	   *upload_sorted_sql;	/* ORDER BY line_no */
	bool		sorted;			/* set by the caller: read it sorted */
	bool		disordered;		/* out: physical order is not line_no order */
	int64		last_line_no;
	Portal		portal;
	SPITupleTable *rows;
	uint64		nrows;
	uint64		row;
} StmtSource;

/* The file is content[0..len) */
extern void StmtSourceSetContent(StmtSource *src, const char *content,
								 size_t len);

/*
 * The file is the upload table relid (columns line text, line_no an
 * integer), checked here: a table the caller may read in full.
 */
extern void StmtSourceSetUpload(StmtSource *src, Oid relid);

/* Start reading from the first line (connected to SPI for an upload table) */
extern void StmtSourceOpen(StmtSource *src);

/*
 * The next line, without its terminator; false at the end of the file.
 * Unless sorted, an upload table's row out of line_no order also answers
 * false and sets disordered: then nothing read is to be trusted, and the
 * file must be read again sorted.
 */
extern bool StmtSourceNext(StmtSource *src, const char **line, size_t *len);

#endif							/* PAYCONS_STATEMENT_SOURCE_H */
