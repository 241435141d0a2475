/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  What the extension owner allowed: tables whose guard trigger may
 *	  write order history, tables whose outbox trigger may write events of
 *	  an aggregate type, roles that may emit events of a reserved aggregate
 *	  type.
 *
 * IDENTIFICATION
 *	  src/registry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_REGISTRY_H
#define PAYCONS_REGISTRY_H

#include "utils/relcache.h"

extern bool PayconsHistoryAllowed(Relation rel);
extern bool PayconsOutboxTableAllowed(Relation rel, const char *aggregate_type);
extern bool PayconsIsReservedAggregateType(const char *aggregate_type);
extern bool PayconsEmitAllowed(const char *aggregate_type);

#endif							/* PAYCONS_REGISTRY_H */
