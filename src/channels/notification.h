/*-------------------------------------------------------------------------
 *
 * notification.h
 *	  paycons.apply_notification(): the raw webhook of a payment channel in,
 *	  verified, decrypted and parsed by the channel's protocol, its facts
 *	  applied exactly once by apply_callback's path.  Also the SQLSTATEs of
 *	  notifications and channel keys (PC120-PC127, doc/errors.md).
 *
 * IDENTIFICATION
 *	  src/channels/notification.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_NOTIFICATION_H
#define PAYCONS_NOTIFICATION_H

#include "postgres.h"

/* SQLSTATEs (class PC, range PC120-PC149 of the channels work) */
#define ERRCODE_PAYCONS_NOTIFICATION_MALFORMED	MAKE_SQLSTATE('P','C','1','2','0')
#define ERRCODE_PAYCONS_NOTIFICATION_MISSING	MAKE_SQLSTATE('P','C','1','2','1')
#define ERRCODE_PAYCONS_NOTIFICATION_AMOUNT		MAKE_SQLSTATE('P','C','1','2','2')
#define ERRCODE_PAYCONS_NOTIFICATION_CURRENCY	MAKE_SQLSTATE('P','C','1','2','3')
#define ERRCODE_PAYCONS_NOTIFICATION_HEADERS	MAKE_SQLSTATE('P','C','1','2','4')
#define ERRCODE_PAYCONS_NOTIFICATION_VALUE		MAKE_SQLSTATE('P','C','1','2','5')
#define ERRCODE_PAYCONS_CHANNEL_NOT_CONFIGURED	MAKE_SQLSTATE('P','C','1','2','6')
#define ERRCODE_PAYCONS_INVALID_CHANNEL_KEY		MAKE_SQLSTATE('P','C','1','2','7')

/* Limits (doc/channels.md) */
#define NOTIFY_MAX_BODY		1048576 /* bytes of body */
#define NOTIFY_MAX_HEADERS	65536	/* bytes of headers jsonb */
#define NOTIFY_MAX_KEYS		16		/* active keys of one channel looked at */

#endif							/* PAYCONS_NOTIFICATION_H */
