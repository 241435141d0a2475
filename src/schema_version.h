/*-------------------------------------------------------------------------
 *
 * schema_version.h
 *	  The library serves the schema version it was built for.
 *
 * IDENTIFICATION
 *	  src/schema_version.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_SCHEMA_VERSION_H
#define PAYCONS_SCHEMA_VERSION_H

extern void PayconsCheckSchemaVersion(void);

#endif							/* PAYCONS_SCHEMA_VERSION_H */
