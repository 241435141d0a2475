/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The owner's registrations, and a backend-local cache of them for the
 *	  triggers that consult them on every row.
 *
 * paycons writes order history and outbox events as the extension owner.
 * A trigger function anyone may attach to their own table must therefore
 * not write them for any table at all:
 *
 *	- paycons.order_guard() with a key column writes order_history rows
 *	  only for a table listed in paycons.history_tables;
 *	- paycons.outbox_trigger() writes events of aggregate type T only for
 *	  a table listed with T in paycons.outbox_tables;
 *	- paycons.emit() writes events of a reserved aggregate type (one that
 *	  paycons writes itself: "order", "compensation") only when its caller
 *	  has the owner's privileges or the privileges of a role listed with
 *	  that type in paycons.emit_roles.
 *
 * A table whose owner has the extension owner's privileges needs no entry
 * (paycons.orders is one; so is any table the DBA owns): whoever can put a
 * trigger on it acts for the owner already.  Entries are made by the
 * owner-only functions paycons.allow_guarded_table(),
 * paycons.allow_outbox_table() and paycons.allow_emit().
 *
 * The answers are cached per backend.  A statement trigger on each of the
 * three tables (paycons.registry_changed()) sends a relcache invalidation
 * for that table whenever it changes; the callback below then forgets
 * every answer, in every backend, when the change commits (and in the
 * changing transaction itself at its next command).  Role membership
 * changes forget them too.
 *
 * IDENTIFICATION
 *	  src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "as_owner.h"
#include "outbox.h"
#include "registry.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(paycons_registry_changed);

/* What a cached answer is about */
#define REGISTRY_HISTORY	'h'		/* id: relation */
#define REGISTRY_OUTBOX		'o'		/* id: relation; type: aggregate type */
#define REGISTRY_EMIT		'e'		/* id: calling role; type: aggregate type */

typedef struct RegistryKey
{
	Oid			id;
	char		kind;
	char		type[OUTBOX_MAX_TYPE + 1];
} RegistryKey;

typedef struct RegistryEntry
{
	RegistryKey key;
	bool		allowed;
} RegistryEntry;

/* Aggregate types that paycons writes itself (compared case-insensitively) */
static const char *const registry_reserved_types[] = {"order", "compensation"};

static HTAB *registry_cache = NULL;
static bool registry_callbacks_registered = false;

/* The registration tables, as last seen (for the invalidation callback) */
#define REGISTRY_NTABLES 3
static Oid	registry_relids[REGISTRY_NTABLES];

static PayconsPlan registry_history = {
	"SELECT 1 FROM paycons.history_tables"
	" WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
	1, {OIDOID}, 0, NULL
};

static PayconsPlan registry_outbox = {
	"SELECT 1 FROM paycons.outbox_tables"
	" WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
	" AND aggregate_type OPERATOR(pg_catalog.=) $2",
	2, {OIDOID, TEXTOID}, 0, NULL
};

static PayconsPlan registry_emit = {
	"SELECT role::pg_catalog.oid FROM paycons.emit_roles"
	" WHERE aggregate_type OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, 0, NULL
};

/* Forget every cached answer. */
static void
registry_reset(void)
{
	if (registry_cache != NULL)
	{
		hash_destroy(registry_cache);
		registry_cache = NULL;
	}
}

/* Relcache callback: a registration table changed (or everything did). */
static void
registry_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid))
	{
		registry_reset();
		return;
	}
	for (int i = 0; i < REGISTRY_NTABLES; i++)
	{
		if (registry_relids[i] == relid)
		{
			registry_reset();
			return;
		}
	}
}

/* Syscache callback: role membership changed. */
static void
registry_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	registry_reset();
}

/* The cache, created (with its callbacks registered) on first use */
static HTAB *
registry_get_cache(void)
{
	if (!registry_callbacks_registered)
	{
		CacheRegisterRelcacheCallback(registry_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, registry_syscache_callback,
									  (Datum) 0);
		registry_callbacks_registered = true;
	}
	if (registry_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RegistryKey);
		ctl.entrysize = sizeof(RegistryEntry);
		ctl.hcxt = CacheMemoryContext;
		registry_cache = hash_create("paycons registrations", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return registry_cache;
}

/* A lookup on a cache miss: run as the owner, who alone reads the tables */
typedef struct RegistryLookup
{
	const RegistryKey *key;
	Oid			caller;			/* REGISTRY_EMIT: the role that emits */
	bool		allowed;
} RegistryLookup;

static void
registry_lookup_work(void *arg, MemoryContext caller)
{
	RegistryLookup *l = (RegistryLookup *) arg;
	const RegistryKey *key = l->key;
	Datum		values[2];

	registry_relids[0] = PayconsRelid("history_tables");
	registry_relids[1] = PayconsRelid("outbox_tables");
	registry_relids[2] = PayconsRelid("emit_roles");

	l->allowed = false;
	switch (key->kind)
	{
		case REGISTRY_HISTORY:
			values[0] = ObjectIdGetDatum(key->id);
			PayconsExecPlan(&registry_history, values, NULL, 1);
			l->allowed = SPI_processed > 0;
			break;
		case REGISTRY_OUTBOX:
			values[0] = ObjectIdGetDatum(key->id);
			values[1] = CStringGetTextDatum(key->type);
			PayconsExecPlan(&registry_outbox, values, NULL, 1);
			l->allowed = SPI_processed > 0;
			break;
		case REGISTRY_EMIT:
			values[0] = CStringGetTextDatum(key->type);
			PayconsExecPlan(&registry_emit, values, NULL, 0);
			for (uint64 i = 0; i < SPI_processed && !l->allowed; i++)
			{
				bool		isnull;
				Datum		role = SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1,
												 &isnull);

				/* a role dropped since it was allowed matches nobody */
				if (!isnull && has_privs_of_role(l->caller, DatumGetObjectId(role)))
					l->allowed = true;
			}
			break;
		default:
			elog(ERROR, "unknown registration kind '%c'", key->kind);
	}
}

/* The (cached) answer for one registration */
static bool
registry_allowed(char kind, Oid id, const char *type)
{
	RegistryKey key;
	RegistryEntry *entry;
	bool		found;
	RegistryLookup lookup;

	memset(&key, 0, sizeof(key));
	key.kind = kind;
	key.id = id;
	if (type != NULL)
		strlcpy(key.type, type, sizeof(key.type));

	entry = hash_search(registry_get_cache(), &key, HASH_FIND, &found);
	if (found)
		return entry->allowed;

	lookup.key = &key;
	lookup.caller = id;
	PayconsAsOwner(NULL, registry_lookup_work, &lookup);

	/* an invalidation during the lookup may have dropped the cache */
	entry = hash_search(registry_get_cache(), &key, HASH_ENTER, &found);
	entry->allowed = lookup.allowed;
	return lookup.allowed;
}

/* Does the owner of rel act for the extension owner? */
static bool
registry_owner_table(Relation rel)
{
	return has_privs_of_role(rel->rd_rel->relowner, PayconsOwnerOid());
}

/*
 * May the guard trigger on rel write paycons.order_history?  Yes for a
 * table of the owner's, else if the owner listed it in
 * paycons.history_tables.
 */
bool
PayconsHistoryAllowed(Relation rel)
{
	return registry_owner_table(rel) ||
		registry_allowed(REGISTRY_HISTORY, RelationGetRelid(rel), NULL);
}

/*
 * May the outbox trigger on rel write events of aggregate_type?  Yes for a
 * table of the owner's, else if the owner listed (rel, aggregate_type) in
 * paycons.outbox_tables.
 */
bool
PayconsOutboxTableAllowed(Relation rel, const char *aggregate_type)
{
	return registry_owner_table(rel) ||
		registry_allowed(REGISTRY_OUTBOX, RelationGetRelid(rel), aggregate_type);
}

/* Is aggregate_type one that paycons writes itself? */
bool
PayconsIsReservedAggregateType(const char *aggregate_type)
{
	for (size_t i = 0; i < lengthof(registry_reserved_types); i++)
	{
		if (pg_strcasecmp(aggregate_type, registry_reserved_types[i]) == 0)
			return true;
	}
	return false;
}

/*
 * May the current user emit() an event of aggregate_type?  Any type that
 * is not reserved, yes; a reserved one if the user has the owner's
 * privileges or those of a role listed with it in paycons.emit_roles.
 */
bool
PayconsEmitAllowed(const char *aggregate_type)
{
	Oid			user = GetUserId();

	if (!PayconsIsReservedAggregateType(aggregate_type))
		return true;
	if (has_privs_of_role(user, PayconsOwnerOid()))
		return true;
	return registry_allowed(REGISTRY_EMIT, user, aggregate_type);
}

/*
 * paycons.registry_changed(): AFTER ... FOR EACH STATEMENT trigger on the
 * registration tables.  Sends a relcache invalidation for the table, so
 * that every backend forgets its cached answers once the change commits.
 */
Datum
paycons_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("paycons.registry_changed() must be fired AFTER ... FOR EACH STATEMENT")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
