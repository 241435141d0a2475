/*-------------------------------------------------------------------------
 *
 * retry_policy.c
 *	  Retry policies and the one backoff formula of paycons.
 *
 * Everything paycons retries -- saga compensations, the stuck-order
 * queries (payment.query, refund.query) and nacked outbox events -- takes
 * its policy from paycons.retry_policies (the fields follow the retry
 * policies of workflow engines such as Temporal) and its delay from
 * PayconsRetryDelay:
 *
 *		base  = min(initial * coefficient ^ (attempt - 1), max)
 *		delay = base * (1 - jitter * u),  u uniform in [0, 1)
 *
 * so a delay never exceeds max and jitter only ever shortens it.  The
 * policy of an action is the row of the action itself, else of its part
 * before ':' ('refund' covers 'refund:TXN'; 'outbox' covers
 * 'outbox:order.paid', the action of a nacked event of type order.paid),
 * else '*'; built-in defaults apply if even '*' was deleted.
 *
 * IDENTIFICATION
 *	  src/retry_policy.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "as_owner.h"
#include "compensations.h"
#include "errcodes.h"
#include "retry_policy.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(paycons_retry_delay);
PG_FUNCTION_INFO_V1(paycons_set_retry_policy);

/* Longest action name a policy may have, in bytes */
#define RETRY_POLICY_MAX_ACTION	128

static PayconsPlan policy_lookup = {
	"SELECT pg_catalog.date_part('epoch', initial_interval), backoff_coefficient,"
	" pg_catalog.date_part('epoch', max_interval), max_attempts, jitter, non_retryable"
	" FROM paycons.retry_policies"
	" WHERE action OPERATOR(pg_catalog.=) ANY (ARRAY[$1, pg_catalog.split_part($1, ':', 1), '*'])"
	" ORDER BY action OPERATOR(pg_catalog.=) $1 DESC, action OPERATOR(pg_catalog.=) '*' LIMIT 1",
	1, {TEXTOID}, 0, NULL
};

static PayconsPlan policy_upsert = {
	"INSERT INTO paycons.retry_policies AS p (action, initial_interval, backoff_coefficient,"
	" max_interval, max_attempts, jitter, non_retryable)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7)"
	" ON CONFLICT (action) DO UPDATE SET initial_interval = EXCLUDED.initial_interval,"
	" backoff_coefficient = EXCLUDED.backoff_coefficient, max_interval = EXCLUDED.max_interval,"
	" max_attempts = EXCLUDED.max_attempts, jitter = EXCLUDED.jitter,"
	" non_retryable = EXCLUDED.non_retryable RETURNING *",
	7, {TEXTOID, INTERVALOID, FLOAT8OID, INTERVALOID, INT4OID, FLOAT8OID, TEXTARRAYOID}, 0, NULL
};

/*
 * Load the retry policy of an action (see the file header) into *policy,
 * allocated in the current memory context.  The caller is connected to
 * SPI and runs as the owner.
 */
void
PayconsGetRetryPolicy(const char *action, PayconsRetryPolicy *policy)
{
	Datum		arg = CStringGetTextDatum(action);
	MemoryContext cxt = CurrentMemoryContext;

	policy->initial = 1.0;
	policy->coefficient = 2.0;
	policy->max = 300.0;
	policy->max_attempts = 10;
	policy->jitter = 0.2;
	policy->n_non_retryable = 0;
	policy->non_retryable = NULL;

	PayconsExecPlan(&policy_lookup, &arg, NULL, 1);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		arr;

		policy->initial = DatumGetFloat8(SPI_getbinval(tup, desc, 1, &isnull));
		policy->coefficient = DatumGetFloat8(SPI_getbinval(tup, desc, 2, &isnull));
		policy->max = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		policy->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		policy->jitter = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
		arr = SPI_getbinval(tup, desc, 6, &isnull);
		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(arr);
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			MemoryContext old = MemoryContextSwitchTo(cxt);

			deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			policy->non_retryable = palloc(sizeof(char *) * Max(n, 1));
			for (int i = 0; i < n; i++)
				if (!nulls[i])
					policy->non_retryable[policy->n_non_retryable++] =
						TextDatumGetCString(elems[i]);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * Seconds to wait after failed attempt number "attempt" (1 = the first):
 * the exponential base capped at max, then reduced by up to jitter of
 * itself.  sample is u in [0, 1]; a negative sample draws one.  The result
 * is always within [base * (1 - jitter), base], base <= max.
 */
double
PayconsRetryDelay(const PayconsRetryPolicy *policy, int attempt, double sample)
{
	double		base;

	if (attempt < 1)
		attempt = 1;
	base = policy->initial * pow(policy->coefficient, attempt - 1);
	if (isnan(base) || base > policy->max)
		base = policy->max;
	if (sample < 0)
		sample = pg_prng_double(&pg_global_prng_state);
	return base * (1.0 - policy->jitter * sample);
}

/*
 * Is failed attempt number "attempt" the last one: the policy's attempts
 * are used up, or its SQLSTATE (5 characters, may be NULL) or that
 * SQLSTATE's class is listed as non-retryable?
 */
bool
PayconsRetryIsFinal(const PayconsRetryPolicy *policy, int attempt,
					const char *sqlstate)
{
	if (attempt >= policy->max_attempts)
		return true;
	if (sqlstate == NULL)
		return false;
	for (int i = 0; i < policy->n_non_retryable; i++)
	{
		const char *s = policy->non_retryable[i];

		if (strlen(s) == 2 ? strncmp(s, sqlstate, 2) == 0 : strcmp(s, sqlstate) == 0)
			return true;
	}
	return false;
}

/* The action whose policy governs nacked events of event_type */
char *
PayconsOutboxRetryAction(const char *event_type)
{
	return psprintf("outbox:%s", event_type);
}

/* Raise PC308 for a retry policy field */
static void
policy_bad(const char *action, const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_INVALID_RETRY_POLICY),
			 errmsg("invalid retry policy for action \"%s\": %s", action, what),
			 detail ? errdetail("%s", detail) : 0));
}

/* An interval in seconds (as date_part('epoch', ...) computes it) */
static double
policy_interval_secs(Interval *iv)
{
	return (double) iv->time / USECS_PER_SEC +
		(double) iv->day * SECS_PER_DAY +
		(double) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
}

static char *
policy_interval_text(Interval *iv)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)));
}

/* Work of paycons.retry_delay(): load the policy */
typedef struct PolicyLoad
{
	const char *action;
	PayconsRetryPolicy *policy;
} PolicyLoad;

static void
policy_load_work(void *arg, MemoryContext caller)
{
	PolicyLoad *l = (PolicyLoad *) arg;
	MemoryContext old = MemoryContextSwitchTo(caller);

	PayconsGetRetryPolicy(l->action, l->policy);
	MemoryContextSwitchTo(old);
}

/*
 * paycons.retry_delay(action, attempt, jitter_sample): the delay after
 * failed attempt number "attempt" under the action's policy.  With a sample
 * in [0, 1] the result is deterministic: 0 gives the upper bound, 1 the
 * lower bound of the jitter.
 */
Datum
paycons_retry_delay(PG_FUNCTION_ARGS)
{
	char	   *action;
	int			attempt;
	double		sample = -1;
	PayconsRetryPolicy policy;
	PolicyLoad	load;
	double		secs;

	PayconsRequireArg(fcinfo, 0, "action");
	PayconsRequireArg(fcinfo, 1, "attempt");
	action = PayconsCheckId(PG_GETARG_TEXT_PP(0), "action", PAYCONS_MAX_ACTION);
	attempt = PG_GETARG_INT32(1);
	if (attempt < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attempt must be at least 1: %d", attempt)));
	if (!PG_ARGISNULL(2))
	{
		sample = PG_GETARG_FLOAT8(2);
		if (!(sample >= 0 && sample <= 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("jitter_sample must be between 0 and 1: %g", sample)));
	}

	load.action = action;
	load.policy = &policy;
	PayconsAsOwner(NULL, policy_load_work, &load);

	secs = PayconsRetryDelay(&policy, attempt, sample);
	/* round to microseconds, as make_interval(secs => ..) does */
	PG_RETURN_DATUM(DirectFunctionCall7(make_interval,
										Int32GetDatum(0), Int32GetDatum(0),
										Int32GetDatum(0), Int32GetDatum(0),
										Int32GetDatum(0), Int32GetDatum(0),
										Float8GetDatum(rint(secs * 1e6) / 1e6)));
}

/* Work of paycons.set_retry_policy(): write the row, return it */
typedef struct PolicySet
{
	FunctionCallInfo fcinfo;
	Datum		values[7];
	Datum		result;
} PolicySet;

static void
policy_set_work(void *arg, MemoryContext caller)
{
	PolicySet  *s = (PolicySet *) arg;

	PayconsExecPlan(&policy_upsert, s->values, NULL, 0);
	s->result = PayconsReturnRow(s->fcinfo, caller);
}

/*
 * paycons.set_retry_policy(action, initial_interval, backoff_coefficient,
 *							max_interval, max_attempts, jitter, non_retryable)
 *
 * Every field is checked (PC308) before the row is written.
 */
Datum
paycons_set_retry_policy(PG_FUNCTION_ARGS)
{
	char	   *action;
	Interval   *initial;
	Interval   *max;
	double		coefficient;
	int			max_attempts;
	double		jitter;
	ArrayType  *non_retryable;
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	PolicySet	set;

	PayconsRequireArg(fcinfo, 0, "action");
	PayconsRequireArg(fcinfo, 1, "initial_interval");
	PayconsRequireArg(fcinfo, 2, "backoff_coefficient");
	PayconsRequireArg(fcinfo, 3, "max_interval");
	PayconsRequireArg(fcinfo, 4, "max_attempts");
	PayconsRequireArg(fcinfo, 5, "jitter");
	PayconsRequireArg(fcinfo, 6, "non_retryable");
	action = PayconsCheckId(PG_GETARG_TEXT_PP(0), "action", RETRY_POLICY_MAX_ACTION);
	initial = PG_GETARG_INTERVAL_P(1);
	coefficient = PG_GETARG_FLOAT8(2);
	max = PG_GETARG_INTERVAL_P(3);
	max_attempts = PG_GETARG_INT32(4);
	jitter = PG_GETARG_FLOAT8(5);
	non_retryable = PG_GETARG_ARRAYTYPE_P(6);

	if (!(policy_interval_secs(initial) > 0))
		policy_bad(action, "initial_interval must be positive",
				   policy_interval_text(initial));
	if (!(coefficient >= 1 && coefficient <= 100))
		policy_bad(action, psprintf("backoff_coefficient %g is not between 1 and 100", coefficient),
				   "A coefficient below 1 would shrink the delays.");
	if (policy_interval_secs(max) < policy_interval_secs(initial))
		policy_bad(action,
				   psprintf("max_interval %s is less than initial_interval %s",
							policy_interval_text(max), policy_interval_text(initial)),
				   NULL);
	if (max_attempts < 1)
		policy_bad(action, psprintf("max_attempts must be at least 1: %d", max_attempts), NULL);
	if (!(jitter >= 0 && jitter <= 1))
		policy_bad(action, psprintf("jitter %g is not between 0 and 1", jitter), NULL);
	if (ARR_NDIM(non_retryable) > 1)
		policy_bad(action, "non_retryable must be a one-dimensional array", NULL);
	deconstruct_array(non_retryable, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elnulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;
		int			len;
		bool		ok = true;

		if (elnulls[i])
			policy_bad(action, "non_retryable contains a NULL", NULL);
		s = TextDatumGetCString(elems[i]);
		len = strlen(s);
		if (len != 2 && len != 5)
			ok = false;
		for (int j = 0; ok && j < len; j++)
			if (!((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'A' && s[j] <= 'Z')))
				ok = false;
		if (!ok)
			policy_bad(action, psprintf("\"%s\" in non_retryable is not a SQLSTATE or SQLSTATE class", s),
					   "Give five characters (such as 22012) or a two-character class (such as 22), digits and upper-case letters.");
	}

	set.fcinfo = fcinfo;
	set.values[0] = CStringGetTextDatum(action);
	set.values[1] = IntervalPGetDatum(initial);
	set.values[2] = Float8GetDatum(coefficient);
	set.values[3] = IntervalPGetDatum(max);
	set.values[4] = Int32GetDatum(max_attempts);
	set.values[5] = Float8GetDatum(jitter);
	set.values[6] = PointerGetDatum(non_retryable);
	PayconsAsOwner(NULL, policy_set_work, &set);

	return set.result;
}
