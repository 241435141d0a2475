/*-------------------------------------------------------------------------
 *
 * paycons.h
 *	  The module's settings: every paycons.* GUC is defined and stored in
 *	  paycons.c and declared here.
 *
 * IDENTIFICATION
 *	  src/paycons.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_H
#define PAYCONS_H

/* Whether this backend's postmaster loaded paycons at startup */
extern bool paycons_preloaded;

/* order hub */
extern char *paycons_reason_guc;

/* outbox */
extern bool paycons_outbox_cdc;
extern int	paycons_outbox_notify;	/* a PayconsOutboxNotify (notifier.h) */
extern int	paycons_outbox_rotate_interval;
extern int	paycons_notify_interval;

/* worker and maintenance */
extern char *paycons_database;
extern int	paycons_naptime;
extern bool paycons_enabled;
extern int	paycons_stuck_grace;
extern int	paycons_refund_stuck_after;
extern int	paycons_batch_size;

/* statements */
extern int	paycons_statement_max_size;

#endif							/* PAYCONS_H */
