/*-------------------------------------------------------------------------
 *
 * notice_verify.h
 *	  What apply_notification knows of a channel (its protocol, settings and
 *	  active keys) and the verdict of its protocol on one notification:
 *	  verified facts, an event to ignore, or a failed verification.
 *
 * IDENTIFICATION
 *	  src/channels/notice_verify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_NOTICE_VERIFY_H
#define PAYCONS_NOTICE_VERIFY_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "chan_common.h"
#include "notification.h"

typedef enum NotifyProtocol
{
	NP_HMAC,
	NP_ALIPAY,
	NP_WECHATPAY_V3,
	NP_STRIPE,
	NP_ADYEN
} NotifyProtocol;

#define NOTIFY_NPROTOCOLS (NP_ADYEN + 1)

/* paycons.channels.protocol of each NotifyProtocol */
extern const char *const NotifyProtocolNames[NOTIFY_NPROTOCOLS];

typedef struct NotifyKey
{
	char	   *key_id;
	char	   *kind;			/* rsa_public, aes256, hmac */
	uint8	   *key;
	size_t		keylen;
} NotifyKey;

/* A channel's settings and keys, copied out of SPI */
typedef struct NotifyChannel
{
	const char *name;
	NotifyProtocol protocol;
	uint8	   *secret;			/* channels.secret (hmac), may be NULL */
	size_t		secretlen;
	char	   *signature_format;
	double		tolerance;		/* seconds */
	char	   *ack;
	char	   *nack;			/* may be NULL */
	int			ack_status;
	int			nack_status;
	char	   *body_format;	/* may be NULL */
	Jsonb	   *body_fields;	/* may be NULL */
	char	   *signature_header;	/* may be NULL */
	char	   *default_currency;	/* may be NULL */
	char	   *merchant_id;	/* may be NULL */
	int			nkeys;
	NotifyKey	keys[NOTIFY_MAX_KEYS];
} NotifyChannel;

/* What the protocol made of a notification */
typedef enum NotifyVerdictKind
{
	NV_BAD_SIGNATURE,
	NV_IGNORED,
	NV_FACTS
} NotifyVerdictKind;

typedef struct NotifyVerdict
{
	NotifyVerdictKind kind;
	const char *reason;			/* NV_BAD_SIGNATURE */
	PayconsNoticeFacts facts;	/* NV_FACTS, NV_IGNORED */
} NotifyVerdict;

/*
 * Verify, decrypt where the channel encrypts, and parse one notification
 * with the channel's protocol.  Bad signatures become an NV_BAD_SIGNATURE
 * verdict with a reason; a verified body that cannot be read is an ERROR
 * (PC120-PC125); a channel not configured for its protocol is PC126.
 */
extern void NotifyVerify(const NotifyChannel *ch, const char *body, size_t len,
						 Jsonb *headers, PayconsArena *a, NotifyVerdict *v);

/* Raise the error a parse status stands for (never PCH_OK/BAD_SIGNATURE) */
extern void NotifyRaise(const NotifyChannel *ch, const PayconsChanError *err) pg_attribute_noreturn();

#endif							/* PAYCONS_NOTICE_VERIFY_H */
