/*-------------------------------------------------------------------------
 *
 * notifier.h
 *	  NOTIFY paycons_outbox off the writers' commit path: the notifier
 *	  process of each listed database, and what a writing transaction does.
 *
 * IDENTIFICATION
 *	  src/notifier.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_NOTIFIER_H
#define PAYCONS_NOTIFIER_H

#include "fmgr.h"

/* Values of paycons.outbox_notify */
typedef enum PayconsOutboxNotify
{
	PAYCONS_NOTIFY_OFF = 0,		/* no notification at all */
	PAYCONS_NOTIFY_ON,			/* through the notifier, else per transaction */
	PAYCONS_NOTIFY_TRANSACTION	/* each writing transaction notifies itself */
} PayconsOutboxNotify;

/* The channel consumers LISTEN on */
#define PAYCONS_NOTIFY_CHANNEL	"paycons_outbox"

extern void PayconsOutboxNotifyWanted(void);
extern void PayconsNotifierRegister(int i, const char *dbname);
extern PGDLLEXPORT void paycons_notifier_main(Datum main_arg);

#endif							/* PAYCONS_NOTIFIER_H */
