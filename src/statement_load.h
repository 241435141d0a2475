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

#endif							/* PAYCONS_STATEMENT_LOAD_H */
