/*-------------------------------------------------------------------------
 *
 * statement_load.h
 *	  paycons.load_statement() and paycons.load_statement_upload(): the
 *	  channels' statement files into paycons.statement_lines.
 *
 * IDENTIFICATION
 *	  src/statement_load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STATEMENT_LOAD_H
#define PAYCONS_STATEMENT_LOAD_H

#include "postgres.h"

/*
 * SQLSTATEs of statement loading and reconciliation, class PC, range
 * PC150-PC179 (listed in doc/errors.md).
 */
#define ERRCODE_PAYCONS_STMT_UNKNOWN_FORMAT		MAKE_SQLSTATE('P','C','1','5','0')
#define ERRCODE_PAYCONS_STMT_MALFORMED			MAKE_SQLSTATE('P','C','1','5','1')
#define ERRCODE_PAYCONS_STMT_MISSING_COLUMN		MAKE_SQLSTATE('P','C','1','5','2')
#define ERRCODE_PAYCONS_STMT_INVALID_AMOUNT		MAKE_SQLSTATE('P','C','1','5','3')
#define ERRCODE_PAYCONS_STMT_AMOUNT_SIGN		MAKE_SQLSTATE('P','C','1','5','4')
#define ERRCODE_PAYCONS_STMT_UNKNOWN_CURRENCY	MAKE_SQLSTATE('P','C','1','5','5')
#define ERRCODE_PAYCONS_STMT_DUPLICATE_LINE		MAKE_SQLSTATE('P','C','1','5','6')
#define ERRCODE_PAYCONS_STMT_WRONG_DATE			MAKE_SQLSTATE('P','C','1','5','7')
#define ERRCODE_PAYCONS_STMT_INVALID_TIME		MAKE_SQLSTATE('P','C','1','5','8')
#define ERRCODE_PAYCONS_STMT_TOO_LARGE			MAKE_SQLSTATE('P','C','1','5','9')
#define ERRCODE_PAYCONS_STMT_ALREADY_LOADED		MAKE_SQLSTATE('P','C','1','6','0')
#define ERRCODE_PAYCONS_STMT_SUMMARY			MAKE_SQLSTATE('P','C','1','6','1')
#define ERRCODE_PAYCONS_STMT_INVALID_ID			MAKE_SQLSTATE('P','C','1','6','2')
#define ERRCODE_PAYCONS_STMT_INVALID_KIND		MAKE_SQLSTATE('P','C','1','6','3')
#define ERRCODE_PAYCONS_STMT_BAD_UPLOAD			MAKE_SQLSTATE('P','C','1','6','9')

/* paycons.c: largest content of load_statement(), in kB */
extern int	paycons_statement_max_size;

#endif							/* PAYCONS_STATEMENT_LOAD_H */
