/*-------------------------------------------------------------------------
 *
 * chan_common.h
 *	  What the channel protocol parsers share: an allocator, a status that
 *	  says what is wrong with a notification, and the facts a notification
 *	  states, before and after they are resolved into an inbox key, minor
 *	  units and an ISO 4217 currency.
 *
 * Everything declared here is plain C with no dependency on the backend,
 * so that the parsers link into a libFuzzer harness (test/fuzz/).  No
 * function here or in the parsers calls ereport: each returns a status and
 * a detail text, and the SQL-facing layer (notification.c) raises.
 *
 * IDENTIFICATION
 *	  src/channels/chan_common.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_CHAN_COMMON_H
#define PAYCONS_CHAN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define PAYCONS_CHAN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PAYCONS_CHAN_PRINTF(f, a)
#endif

/*
 * Where parsers allocate.  In the backend alloc is palloc in the current
 * memory context; in the fuzz harness a malloc arena freed after each
 * input.  alloc may return NULL (out of memory): the parsers then fail
 * with PCH_MALFORMED and the detail "out of memory".
 */
typedef struct PayconsArena
{
	void	   *(*alloc) (void *ctx, size_t size);
	void	   *ctx;
} PayconsArena;

extern void *PayconsArenaAlloc(PayconsArena *a, size_t size);
extern char *PayconsArenaStrndup(PayconsArena *a, const char *s, size_t len);

/*
 * What is wrong with a notification.  The SQL layer maps each status to an
 * outcome or a SQLSTATE (doc/errors.md, PC120-PC126).
 */
typedef enum PayconsChanStatus
{
	PCH_OK = 0,
	PCH_BAD_SIGNATURE,			/* not verified or not decrypted: bad_signature */
	PCH_MALFORMED,				/* the body (or its decrypted resource) does not parse */
	PCH_MISSING_FIELD,			/* a field the facts need is absent or of the wrong type */
	PCH_BAD_VALUE,				/* a field has a value the protocol does not define */
	PCH_BAD_AMOUNT,				/* an amount that is not exact positive minor units */
	PCH_BAD_CURRENCY			/* a currency that is not an active ISO 4217 code */
} PayconsChanStatus;

/*
 * A status with its detail, a full sentence naming the offending value
 * (allocated in the arena).
 */
typedef struct PayconsChanError
{
	PayconsChanStatus status;
	const char *detail;
} PayconsChanError;

/* Set *err and return its status; detail formatted into the arena */
extern PayconsChanStatus PayconsChanFail(PayconsArena *a, PayconsChanError *err,
										 PayconsChanStatus status,
										 const char *fmt,...) PAYCONS_CHAN_PRINTF(4, 5);

/*
 * Length to print of a value in a message: at most max bytes, cut at a
 * UTF-8 character boundary.  Use as "%.*s" with PayconsChanClip(s, len, 64).
 */
extern int	PayconsChanClip(const char *s, size_t len, int max);

/* Is s[0..len) valid UTF-8 without NUL bytes (and without overlong forms)? */
extern bool PayconsUtf8Valid(const char *s, size_t len);

/* What a notification is about */
typedef enum PayconsNoticeKind
{
	PN_IGNORE = 0,				/* verified, but not a payment or refund fact */
	PN_PAYMENT,
	PN_REFUND
} PayconsNoticeKind;

/*
 * The facts a verified notification states, as they appear in its body.
 * Strings point into the parsed body (not NUL-terminated: use the lengths).
 */
typedef struct PayconsNoticeFacts
{
	PayconsNoticeKind kind;
	bool		success;
	/*
	 * cumulative: amount is the total refunded for the payment so far
	 * (Alipay's refund_fee, Stripe's charge.amount_refunded), not the amount
	 * of this refund; see notification.c.
	 */
	bool		cumulative;
	const char *txn_id;			/* the channel's id of the payment or refund */
	size_t		txn_len;
	const char *order_id;		/* the merchant's order id */
	size_t		order_len;
	const char *amount;			/* amount text as in the body */
	size_t		amount_len;
	bool		amount_major;	/* "12.30" in major units, else integer minor units */
	const char *currency;		/* NULL: the channel's default currency */
	size_t		currency_len;
	const char *merchant;		/* the merchant account the body names, or NULL */
	size_t		merchant_len;
	/* for the inbox payload and messages (may be NULL) */
	const char *event_id;
	size_t		event_id_len;
	const char *event_type;
	size_t		event_type_len;
	const char *ignored_because;	/* PN_IGNORE: why, a short phrase */
} PayconsNoticeFacts;

/* The longest inbox key (channel_txn_id) and order id, in bytes */
#define PAYCONS_NOTICE_MAX_TXN		128
#define PAYCONS_NOTICE_MAX_ORDER	64

/* Facts resolved into what apply_callback takes */
typedef struct PayconsNoticeResolved
{
	char	   *txn_key;		/* inbox key: txn id, "<id>:failed" or "<id>:refunded:<total>" */
	char	   *txn_id;			/* the channel's id alone */
	char	   *order_id;
	int64_t		amount;			/* minor units, > 0 */
	char		currency[4];	/* upper case ISO 4217 */
} PayconsNoticeResolved;

/*
 * Resolve facts (kind PN_PAYMENT or PN_REFUND): the amount into minor units
 * of the currency (the body's, upper-cased, or default_currency), and the
 * inbox key:
 *	- a success: the channel's id;
 *	- a failure: "<id>:failed", so that a later success of the same payment
 *	  (a second card, a refund retried by hand) is its own key and applies;
 *	- a cumulative refund: "<id>:refunded:<total in minor units>".
 * Ids are checked for emptiness, length and control characters by the SQL
 * layer (the same checks as apply_callback's arguments).
 */
extern PayconsChanStatus PayconsNoticeResolve(const PayconsNoticeFacts *f,
											  const char *default_currency,
											  PayconsArena *a,
											  PayconsNoticeResolved *r,
											  PayconsChanError *err);

/* Does a field of len bytes equal the NUL-terminated s? */
extern bool PayconsChanEq(const char *field, size_t len, const char *s);

#endif							/* PAYCONS_CHAN_COMMON_H */
