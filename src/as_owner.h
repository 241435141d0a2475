/*-------------------------------------------------------------------------
 *
 * as_owner.h
 *	  Running work as the extension owner: the one place that switches
 *	  user, pins search_path, restricts the operation and connects SPI.
 *
 * IDENTIFICATION
 *	  src/as_owner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_AS_OWNER_H
#define PAYCONS_AS_OWNER_H

/* The search_path every piece of owner code runs with */
#define PAYCONS_PINNED_SEARCH_PATH "pg_catalog, paycons, pg_temp"

/*
 * A piece of work run by PayconsAsOwner.  It runs connected to SPI, as the
 * extension owner; "caller" is the memory context that was current when
 * PayconsAsOwner was called (for anything that must outlive SPI_finish).
 */
typedef void (*PayconsOwnerWork) (void *arg, MemoryContext caller);

extern void PayconsAsOwner(const char *reason, PayconsOwnerWork work,
						   void *arg);

/* The role on whose behalf a change is made, and the reason recorded */
extern Oid	PayconsActor(void);
extern const char *PayconsReason(void);
extern const char *PayconsCallerSearchPath(void);

/* Catalog facts about the installed extension (cached) */
extern Oid	PayconsOwnerOid(void);
extern Oid	PayconsSchemaOid(void);
extern Oid	PayconsRelid(const char *relname);

#endif							/* PAYCONS_AS_OWNER_H */
