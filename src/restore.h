/*-------------------------------------------------------------------------
 *
 * restore.h
 *	  Is this row being brought back by a restore (pg_restore, psql with a
 *	  pg_dump script)?  The one decision every paycons trigger asks.
 *
 * IDENTIFICATION
 *	  src/restore.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_RESTORE_H
#define PAYCONS_RESTORE_H

#include "utils/relcache.h"

extern bool PayconsRestoring(Relation rel);

#endif							/* PAYCONS_RESTORE_H */
