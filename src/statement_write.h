/*-------------------------------------------------------------------------
 *
 * statement_write.h
 *	  Writing parsed statement lines into paycons.statement_lines, a batch
 *	  at a time, with the file's counts and per-currency totals, for the
 *	  loader (statement_load.c).
 *
 * IDENTIFICATION
 *	  src/statement_write.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STATEMENT_WRITE_H
#define PAYCONS_STATEMENT_WRITE_H

#include "utils/date.h"

#include "statement_parse.h"

/* Totals of one currency */
typedef struct StmtTotal
{
	char		currency[4];
	int64		payments;
	int64		payment_amount;
	int64		refunds;
	int64		refund_amount;
	int64		fee_milli;
} StmtTotal;

typedef struct StmtBatch StmtBatch;

typedef struct StmtWriter
{
	/* where the lines go: set by the caller */
	const char *channel;
	DateADT		date;
	const char *time_zone;		/* of the lines' settled_at */
	int64		file_id;
	StmtFormat	format;			/* for messages */
	bool		careful;		/* skip a duplicate and name it (slower) */

	/* what went in */
	int			lines;
	int			payments;
	int			refunds;
	int			ntotals;
	StmtTotal	totals[64];

	/* private */
	StmtBatch  *batch;
	MemoryContext batch_cxt;
} StmtWriter;

/* Allocate the batch (in the current memory context) */
extern void StmtWriterInit(StmtWriter *w);

/* Start writing a file: no lines, no totals */
extern void StmtWriterStart(StmtWriter *w);

/*
 * Add a parsed line; a full batch is written (connected to SPI).  A
 * transaction id already loaded, or twice in the file, is an error: the
 * primary key's unique violation, or with careful a PC error naming the
 * line and where the other one is.
 */
extern void StmtWriterAdd(StmtWriter *w, const StmtLine *l);

/* Write what the batch holds */
extern void StmtWriterFlush(StmtWriter *w);

/* The totals as jsonb: {"CNY": {"payments": n, "payment_amount": ..., ...}} */
extern Datum StmtWriterTotals(StmtWriter *w);

#endif							/* PAYCONS_STATEMENT_WRITE_H */
