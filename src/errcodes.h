/*-------------------------------------------------------------------------
 *
 * errcodes.h
 *	  paycons's own SQLSTATEs, class PC.
 *
 * Every code is listed, with its meaning, in doc/errors.md; keep the two in
 * step.  Ranges: PC0xx orders and the state machine, PC1xx callbacks and
 * channels, PC2xx outbox, PC3xx compensations, stock and maintenance.
 * Errors that PostgreSQL already has a code for (22004 null value, 22001
 * string too long, 54000 program limit, 42501 privilege, 39P01 trigger
 * protocol) use that code instead.
 *
 * IDENTIFICATION
 *	  src/errcodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ERRCODES_H
#define PAYCONS_ERRCODES_H

#include "utils/elog.h"

/* orders and the state machine */
#define ERRCODE_PAYCONS_ILLEGAL_TRANSITION	MAKE_SQLSTATE('P','C','0','0','1')
#define ERRCODE_PAYCONS_ORDER_NOT_FOUND		MAKE_SQLSTATE('P','C','0','0','2')
#define ERRCODE_PAYCONS_ORDER_CONFLICT		MAKE_SQLSTATE('P','C','0','0','3')
#define ERRCODE_PAYCONS_INVALID_AMOUNT		MAKE_SQLSTATE('P','C','0','0','4')
#define ERRCODE_PAYCONS_INVALID_CURRENCY	MAKE_SQLSTATE('P','C','0','0','5')
#define ERRCODE_PAYCONS_INVALID_IDENTIFIER	MAKE_SQLSTATE('P','C','0','0','6')
#define ERRCODE_PAYCONS_INVALID_INITIAL_STATE MAKE_SQLSTATE('P','C','0','0','7')

/* the extension as installed (issue 11) */
#define ERRCODE_PAYCONS_SCHEMA_VERSION		MAKE_SQLSTATE('P','C','0','1','0')

/* callbacks */
#define ERRCODE_PAYCONS_INVALID_CALLBACK_KIND	MAKE_SQLSTATE('P','C','1','0','1')
#define ERRCODE_PAYCONS_INVALID_CALLBACK_STATUS	MAKE_SQLSTATE('P','C','1','0','2')
#define ERRCODE_PAYCONS_INVALID_CALLBACK_SOURCE	MAKE_SQLSTATE('P','C','1','0','3')
#define ERRCODE_PAYCONS_CALLBACK_ISOLATION		MAKE_SQLSTATE('P','C','1','0','4')
#define ERRCODE_PAYCONS_INVALID_CHANNEL_SETTING	MAKE_SQLSTATE('P','C','1','0','5')
#define ERRCODE_PAYCONS_UNKNOWN_CHANNEL			MAKE_SQLSTATE('P','C','1','0','6')

/* outbox */
#define ERRCODE_PAYCONS_OUTBOX_BAD_BATCH	MAKE_SQLSTATE('P','C','2','0','1')
#define ERRCODE_PAYCONS_OUTBOX_BAD_INTERVAL MAKE_SQLSTATE('P','C','2','0','2')
#define ERRCODE_PAYCONS_OUTBOX_UNKNOWN_EVENT MAKE_SQLSTATE('P','C','2','0','3')
#define ERRCODE_PAYCONS_OUTBOX_NOT_OWNER	MAKE_SQLSTATE('P','C','2','0','4')
#define ERRCODE_PAYCONS_OUTBOX_WRONG_STATUS MAKE_SQLSTATE('P','C','2','0','5')
#define ERRCODE_PAYCONS_OUTBOX_NO_CONSUMER	MAKE_SQLSTATE('P','C','2','0','6')
#define ERRCODE_PAYCONS_OUTBOX_TRIGGER_MISUSE MAKE_SQLSTATE('P','C','2','0','7')
#define ERRCODE_PAYCONS_OUTBOX_TRIGGER_COLUMN MAKE_SQLSTATE('P','C','2','0','8')

/* compensations, stock, maintenance */
#define ERRCODE_PAYCONS_INVALID_HANDLER		MAKE_SQLSTATE('P','C','3','0','1')
#define ERRCODE_PAYCONS_UNKNOWN_HANDLER		MAKE_SQLSTATE('P','C','3','0','2')
#define ERRCODE_PAYCONS_INVALID_QUANTITY	MAKE_SQLSTATE('P','C','3','0','3')
#define ERRCODE_PAYCONS_UNKNOWN_SKU			MAKE_SQLSTATE('P','C','3','0','4')
#define ERRCODE_PAYCONS_INSUFFICIENT_STOCK	MAKE_SQLSTATE('P','C','3','0','5')
#define ERRCODE_PAYCONS_RESERVATION_RELEASED MAKE_SQLSTATE('P','C','3','0','6')
#define ERRCODE_PAYCONS_RESERVATION_CONFLICT MAKE_SQLSTATE('P','C','3','0','7')
#define ERRCODE_PAYCONS_INVALID_RETRY_POLICY MAKE_SQLSTATE('P','C','3','0','8')
#define ERRCODE_PAYCONS_COMPENSATION_NOT_FOUND MAKE_SQLSTATE('P','C','3','0','9')
#define ERRCODE_PAYCONS_COMPENSATION_STATE	MAKE_SQLSTATE('P','C','3','1','0')
#define ERRCODE_PAYCONS_ORDER_NOT_RESERVABLE MAKE_SQLSTATE('P','C','3','1','1')

#endif							/* PAYCONS_ERRCODES_H */
