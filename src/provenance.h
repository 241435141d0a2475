/*-------------------------------------------------------------------------
 *
 * provenance.h
 *	  Where an outbox event came from: the "paycons" header naming the
 *	  role (and table) that caused it.
 *
 * IDENTIFICATION
 *	  src/provenance.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_PROVENANCE_H
#define PAYCONS_PROVENANCE_H

#include "utils/jsonb.h"
#include "utils/relcache.h"

/* The header key paycons writes and no caller may set */
#define PAYCONS_ORIGIN_HEADER	"paycons"

extern Jsonb *PayconsEventOrigin(Relation rel);
extern Jsonb *PayconsAddEventOrigin(Jsonb *headers, Relation rel);

#endif							/* PAYCONS_PROVENANCE_H */
