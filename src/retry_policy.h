/*-------------------------------------------------------------------------
 *
 * retry_policy.h
 *	  Retry policies (paycons.retry_policies) and the one backoff formula
 *	  shared by compensations, stuck-order queries and outbox nacks.
 *
 * IDENTIFICATION
 *	  src/retry_policy.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_RETRY_POLICY_H
#define PAYCONS_RETRY_POLICY_H

/* A retry policy, with intervals in seconds */
typedef struct PayconsRetryPolicy
{
	double		initial;
	double		coefficient;
	double		max;
	int			max_attempts;
	double		jitter;
	int			n_non_retryable;
	char	  **non_retryable;	/* SQLSTATEs or classes */
} PayconsRetryPolicy;

/* Callers are connected to SPI and run as the owner */
extern void PayconsGetRetryPolicy(const char *action, PayconsRetryPolicy *policy);
extern double PayconsRetryDelay(const PayconsRetryPolicy *policy, int attempt,
								double sample);
extern bool PayconsRetryIsFinal(const PayconsRetryPolicy *policy, int attempt,
								const char *sqlstate);

/* The retry policy action of an outbox event type ("outbox:<type>") */
extern char *PayconsOutboxRetryAction(const char *event_type);

#endif							/* PAYCONS_RETRY_POLICY_H */
