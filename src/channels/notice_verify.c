/*-------------------------------------------------------------------------
 *
 * notice_verify.c
 *	  The protocols of apply_notification: for each channel protocol, verify
 *	  the notification's signature with the channel's secret or keys (RSA
 *	  SHA256withRSA for Alipay and WeChat Pay, HMAC-SHA256 for Stripe, Adyen
 *	  and "hmac" channels), decrypt what WeChat Pay encrypts, check the
 *	  timestamp against the channel's tolerance, and read the facts from the
 *	  verified body only, with the plain C parsers of this directory.
 *
 *	  The SQL function, the channel's settings and what is applied are in
 *	  notification.c.
 *
 * IDENTIFICATION
 *	  src/channels/notice_verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "signature.h"
#include "adyen.h"
#include "alipay.h"
#include "binding.h"
#include "codec.h"
#include "crypto.h"
#include "generic.h"
#include "notice_verify.h"
#include "sighdr.h"
#include "stripe.h"
#include "wechatpay.h"

/* Unix epoch (1970-01-01) in PostgreSQL's epoch (2000-01-01), in seconds */
#define NOTIFY_UNIX_EPOCH_OFFSET \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* The header carrying a "hmac" channel's signature when none is set */
#define NOTIFY_DEFAULT_SIGNATURE_HEADER "X-Signature"

/* paycons.channels.protocol, in NotifyProtocol order */
const char *const NotifyProtocolNames[NOTIFY_NPROTOCOLS] = {
	"hmac", "alipay", "wechatpay_v3", "stripe", "adyen"
};

/*
 * A header by name, compared without regard to case (HTTP header names are
 * case-insensitive).  NULL if absent; PC124 if it is not a string or
 * given twice under two spellings.
 */
static const char *
notify_header(Jsonb *headers, const char *name, size_t *len)
{
	JsonbIterator *it = JsonbIteratorInit(&headers->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	size_t		namelen = strlen(name);
	const char *found = NULL;

	*len = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		match;

		if (tok != WJB_KEY)
			continue;
		match = (size_t) v.val.string.len == namelen &&
			pg_strncasecmp(v.val.string.val, name, namelen) == 0;
		tok = JsonbIteratorNext(&it, &v, true);
		if (!match)
			continue;
		if (found != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_NOTIFICATION_HEADERS),
					 errmsg("header \"%s\" is given twice", name),
					 errdetail("Header names are compared without regard to case.")));
		if (tok != WJB_VALUE || v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_NOTIFICATION_HEADERS),
					 errmsg("header \"%s\" is not a JSON string", name),
					 errhint("Pass the headers as a JSON object of strings, as received.")));
		found = v.val.string.val;
		*len = v.val.string.len;
	}
	return found;
}

void
NotifyRaise(const NotifyChannel *ch, const PayconsChanError *err)
{
	int			code;
	const char *what;

	switch (err->status)
	{
		case PCH_MISSING_FIELD:
			code = ERRCODE_PAYCONS_NOTIFICATION_MISSING;
			what = "lacks a field it needs";
			break;
		case PCH_BAD_VALUE:
			code = ERRCODE_PAYCONS_NOTIFICATION_VALUE;
			what = "has a value the protocol does not define";
			break;
		case PCH_BAD_AMOUNT:
			code = ERRCODE_PAYCONS_NOTIFICATION_AMOUNT;
			what = "states an invalid amount";
			break;
		case PCH_BAD_CURRENCY:
			code = ERRCODE_PAYCONS_NOTIFICATION_CURRENCY;
			what = "states an invalid currency";
			break;
		default:
			code = ERRCODE_PAYCONS_NOTIFICATION_MALFORMED;
			what = "cannot be parsed";
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s notification for channel \"%s\" %s",
					NotifyProtocolNames[ch->protocol], ch->name, what),
			 errdetail_internal("%s", err->detail),
			 errhint("Nothing was applied. Pass the raw request body exactly as received.")));
}

/* A parse status: raise it unless it is OK or a failed verification */
static bool
notify_check(const NotifyChannel *ch, PayconsChanStatus st,
			 const PayconsChanError *err, NotifyVerdict *v)
{
	if (st == PCH_OK)
		return true;
	if (st == PCH_BAD_SIGNATURE)
	{
		v->kind = NV_BAD_SIGNATURE;
		v->reason = err->detail;
		return false;
	}
	NotifyRaise(ch, err);
	return false;				/* not reached */
}

static bool
notify_bad(NotifyVerdict *v, const char *reason)
{
	v->kind = NV_BAD_SIGNATURE;
	v->reason = reason;
	return false;
}

/* Is unix time t within the channel's tolerance of now? */
static bool
notify_fresh(const NotifyChannel *ch, int64 t)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		tol = (int64) (ch->tolerance * USECS_PER_SEC);
	TimestampTz ts = (TimestampTz) (t - NOTIFY_UNIX_EPOCH_OFFSET) * USECS_PER_SEC;

	return ts >= now - tol && ts <= now + tol;
}

/*
 * The HMAC key number k of a channel: k = -1 is the channel's secret (only
 * if with_secret and it has one), 0..nkeys-1 its active keys of kind
 * "hmac".  False if k names no HMAC key.
 */
static bool
notify_hmac_key(const NotifyChannel *ch, int k, bool with_secret,
				const uint8 **key, size_t *keylen)
{
	if (k < 0)
	{
		if (!with_secret || ch->secret == NULL)
			return false;
		*key = ch->secret;
		*keylen = ch->secretlen;
		return true;
	}
	if (strcmp(ch->keys[k].kind, "hmac") != 0)
		return false;
	*key = ch->keys[k].key;
	*keylen = ch->keys[k].keylen;
	return true;
}

/* Does any hmac key (and, for "hmac" channels, the secret) sign it? */
static bool
notify_hmac_match(const NotifyChannel *ch, bool with_secret,
				  const uint8 *prefix, size_t prefixlen,
				  const uint8 *msg, size_t msglen,
				  const uint8 (*candidates)[PAYCONS_HMAC_LEN], int ncandidates,
				  bool *any_key)
{
	uint8		expected[PAYCONS_HMAC_LEN];
	bool		match = false;

	*any_key = false;
	for (int k = -1; k < ch->nkeys; k++)
	{
		const uint8 *key;
		size_t		keylen;

		if (!notify_hmac_key(ch, k, with_secret, &key, &keylen))
			continue;
		*any_key = true;
		PayconsHmacSha256(key, keylen, prefix, prefixlen, msg, msglen, expected);
		/* compare every candidate, so the time does not tell which matched */
		for (int i = 0; i < ncandidates; i++)
			match |= PayconsTimingSafeEqual(candidates[i], expected,
											PAYCONS_HMAC_LEN);
	}
	return match;
}

/* Alipay: RSA2 over the sorted parameters */
static void
notify_alipay(const NotifyChannel *ch, const char *body, size_t len,
			  PayconsArena *a, NotifyVerdict *v)
{
	PayconsAlipayNotice n;
	PayconsChanError err;
	bool		any_key = false;
	bool		verified = false;

	if (!notify_check(ch, PayconsAlipayParse(body, len, a, &n, &err), &err, v))
		return;
	for (int k = 0; k < ch->nkeys && !verified; k++)
	{
		if (strcmp(ch->keys[k].kind, "rsa_public") != 0)
			continue;
		any_key = true;
		verified = PayconsRsaSha256Verify(ch->keys[k].key, ch->keys[k].keylen,
										  (const uint8 *) n.content, n.contentlen,
										  n.sign, n.signlen) == 1;
	}
	if (!any_key)
	{
		notify_bad(v, "no Alipay public key configured");
		return;
	}
	if (!verified)
	{
		notify_bad(v, "signature mismatch");
		return;
	}
	if (!notify_check(ch, PayconsAlipayFacts(&n, a, &v->facts, &err), &err, v))
		return;
	v->kind = v->facts.kind == PN_IGNORE ? NV_IGNORED : NV_FACTS;
}

/* WeChat Pay v3: RSA over "timestamp\nnonce\nbody\n", then AES-256-GCM */
static void
notify_wechatpay(const NotifyChannel *ch, const char *body, size_t len,
				 Jsonb *headers, PayconsArena *a, NotifyVerdict *v)
{
	const char *ts,
			   *nonce,
			   *sig,
			   *serial;
	size_t		tslen,
				noncelen,
				siglen,
				seriallen;
	int64_t		t;
	const NotifyKey *key = NULL;
	uint8		sigbuf[PAYCONS_BASE64_MAXDECODED(1368)];
	long		sigbytes;
	StringInfoData msg;
	PayconsWechatEnvelope env;
	PayconsChanError err;
	uint8	   *plain;
	bool		any_aes = false;
	bool		decrypted = false;

	ts = notify_header(headers, "Wechatpay-Timestamp", &tslen);
	nonce = notify_header(headers, "Wechatpay-Nonce", &noncelen);
	sig = notify_header(headers, "Wechatpay-Signature", &siglen);
	serial = notify_header(headers, "Wechatpay-Serial", &seriallen);
	if (ts == NULL || nonce == NULL || sig == NULL || serial == NULL)
	{
		notify_bad(v, "missing Wechatpay-Timestamp, -Nonce, -Signature or -Serial header");
		return;
	}
	if (!PayconsWechatTimestamp(ts, tslen, &t))
	{
		notify_bad(v, "malformed Wechatpay-Timestamp");
		return;
	}
	if (!notify_fresh(ch, t))
	{
		notify_bad(v, "timestamp outside tolerance");
		return;
	}
	/* the platform key is chosen by its serial, so that a rotation works */
	for (int k = 0; k < ch->nkeys; k++)
		if (strcmp(ch->keys[k].kind, "rsa_public") == 0 &&
			strlen(ch->keys[k].key_id) == seriallen &&
			memcmp(ch->keys[k].key_id, serial, seriallen) == 0)
			key = &ch->keys[k];
	if (key == NULL)
	{
		notify_bad(v, "unknown Wechatpay-Serial");
		return;
	}
	if (siglen > 1368 ||
		(sigbytes = PayconsBase64Decode(sig, siglen, sigbuf, sizeof(sigbuf))) <= 0)
	{
		notify_bad(v, "malformed Wechatpay-Signature");
		return;
	}
	initStringInfo(&msg);
	appendBinaryStringInfo(&msg, ts, tslen);
	appendStringInfoChar(&msg, '\n');
	appendBinaryStringInfo(&msg, nonce, noncelen);
	appendStringInfoChar(&msg, '\n');
	appendBinaryStringInfo(&msg, body, len);
	appendStringInfoChar(&msg, '\n');
	if (PayconsRsaSha256Verify(key->key, key->keylen, (const uint8 *) msg.data,
							   msg.len, sigbuf, (size_t) sigbytes) != 1)
	{
		notify_bad(v, "signature mismatch");
		return;
	}

	if (!notify_check(ch, PayconsWechatParseEnvelope(body, len, a, &env, &err),
					  &err, v))
		return;
	if (env.resource == PWR_NONE)
	{
		v->kind = NV_IGNORED;
		v->facts.ignored_because = "not a payment or refund notification";
		return;
	}
	plain = palloc(env.ciphertext_len);
	for (int k = 0; k < ch->nkeys && !decrypted; k++)
	{
		if (strcmp(ch->keys[k].kind, "aes256") != 0)
			continue;
		any_aes = true;
		decrypted = PayconsAes256GcmDecrypt(ch->keys[k].key,
											(const uint8 *) env.nonce, env.nonce_len,
											(const uint8 *) env.aad, env.aad_len,
											env.ciphertext, env.ciphertext_len,
											plain) == 1;
	}
	if (!any_aes)
	{
		notify_bad(v, "no APIv3 key configured");
		return;
	}
	if (!decrypted)
	{
		notify_bad(v, "resource does not decrypt (AEAD_AES_256_GCM tag mismatch)");
		return;
	}
	if (!notify_check(ch, PayconsWechatFacts(&env, (const char *) plain,
											 env.ciphertext_len - PAYCONS_GCM_TAG_LEN,
											 a, &v->facts, &err), &err, v))
		return;
	v->kind = v->facts.kind == PN_IGNORE ? NV_IGNORED : NV_FACTS;
}

/* Stripe: HMAC-SHA256 of "<t>.<body>" in Stripe-Signature */
static void
notify_stripe(const NotifyChannel *ch, const char *body, size_t len,
			  Jsonb *headers, PayconsArena *a, NotifyVerdict *v)
{
	const char *hdr;
	size_t		hdrlen;
	PayconsSigHeader h;
	const char *why;
	char		prefix[16];
	bool		any_key;
	PayconsChanError err;

	hdr = notify_header(headers, "Stripe-Signature", &hdrlen);
	if (hdr == NULL)
	{
		notify_bad(v, "missing Stripe-Signature header");
		return;
	}
	if ((why = PayconsSigHeaderParse(hdr, hdrlen, &h)) != NULL)
	{
		notify_bad(v, why);
		return;
	}
	if (!notify_fresh(ch, h.t))
	{
		notify_bad(v, "timestamp outside tolerance");
		return;
	}
	memcpy(prefix, h.t_text, h.t_len);
	prefix[h.t_len] = '.';
	if (!notify_hmac_match(ch, false, (const uint8 *) prefix, h.t_len + 1,
						   (const uint8 *) body, len,
						   (const uint8 (*)[PAYCONS_HMAC_LEN]) h.v1, h.nv1,
						   &any_key))
	{
		notify_bad(v, any_key ? "signature mismatch" : "no signing secret configured");
		return;
	}
	if (!notify_check(ch, PayconsStripeFacts(body, len, a, &v->facts, &err),
					  &err, v))
		return;
	v->kind = v->facts.kind == PN_IGNORE ? NV_IGNORED : NV_FACTS;
}

/* Adyen: HMAC-SHA256 of the item's payload in additionalData.hmacSignature */
static void
notify_adyen(const NotifyChannel *ch, const char *body, size_t len,
			 PayconsArena *a, NotifyVerdict *v)
{
	PayconsAdyenItem item;
	PayconsChanError err;
	bool		any_key;

	if (!notify_check(ch, PayconsAdyenParse(body, len, a, &item, &err), &err, v))
		return;
	if (!item.has_signature)
	{
		notify_bad(v, "missing or malformed hmacSignature");
		return;
	}
	if (!notify_hmac_match(ch, false, NULL, 0, (const uint8 *) item.payload,
						   item.payload_len,
						   (const uint8 (*)[PAYCONS_HMAC_LEN]) item.signature, 1,
						   &any_key))
	{
		notify_bad(v, any_key ? "signature mismatch" : "no HMAC key configured");
		return;
	}
	if (!notify_check(ch, PayconsAdyenFacts(&item, a, &v->facts, &err), &err, v))
		return;
	v->kind = v->facts.kind == PN_IGNORE ? NV_IGNORED : NV_FACTS;
}

/* The generic "hmac" protocol: apply_callback's signature, declared fields */
static void
notify_hmac(const NotifyChannel *ch, const char *body, size_t len,
			Jsonb *headers, PayconsArena *a, NotifyVerdict *v)
{
	PayconsGenericFields fields;
	PayconsGenericValues vals;
	PayconsSigFormat format;
	const char *hdrname = ch->signature_header ? ch->signature_header :
		NOTIFY_DEFAULT_SIGNATURE_HEADER;
	const char *sig;
	size_t		siglen;
	const char *why = "no secret configured";
	PayconsChanError err;
	bool		complete = ch->body_format != NULL;

	PayconsBodyFieldsFromJsonb(ch->body_fields, &fields);
	for (int i = 0; i < PGF_NFACTS; i++)
		complete &= fields.field[i] != NULL;
	if (!complete)
		ereport(ERROR,
				(errcode(ERRCODE_PAYCONS_CHANNEL_NOT_CONFIGURED),
				 errmsg("channel \"%s\" does not declare where its notifications state their facts",
						ch->name),
				 errdetail("A channel of protocol hmac needs body_format and body_fields naming channel_txn_id, order_id, kind, status, amount and currency for apply_notification."),
				 errhint("Set them with paycons.set_channel(..., body_format => 'json', body_fields => ...).")));
	if (!PayconsSigFormatFromName(ch->signature_format, &format))
		elog(ERROR, "unknown signature format \"%s\" for channel \"%s\"",
			 ch->signature_format, ch->name);

	sig = notify_header(headers, hdrname, &siglen);
	if (sig == NULL)
	{
		notify_bad(v, psprintf("missing %s header", hdrname));
		return;
	}
	for (int k = -1; k < ch->nkeys; k++)
	{
		const uint8 *key;
		size_t		keylen;

		if (!notify_hmac_key(ch, k, true, &key, &keylen))
			continue;
		why = PayconsVerifySignature(key, keylen, format, sig, siglen, body, len,
									 (int64) (ch->tolerance * USECS_PER_SEC),
									 GetCurrentTimestamp());
		if (why == NULL)
			break;
	}
	if (why != NULL)
	{
		notify_bad(v, why);
		return;
	}
	if (!notify_check(ch, PayconsGenericRead(PayconsBodyFormatFromName(ch->body_format),
											 &fields, body, len, a, &vals, &err),
					  &err, v) ||
		!notify_check(ch, PayconsGenericFacts(&vals, a, &v->facts, &err), &err, v))
		return;
	v->kind = NV_FACTS;
}

/* The payload kept in the inbox row: what identifies the notification */

/*
 * See notice_verify.h.
 */
void
NotifyVerify(const NotifyChannel *ch, const char *body, size_t len,
			 Jsonb *headers, PayconsArena *a, NotifyVerdict *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = NV_BAD_SIGNATURE;
	v->reason = "unknown protocol";
	switch (ch->protocol)
	{
		case NP_ALIPAY:
			notify_alipay(ch, body, len, a, v);
			break;
		case NP_WECHATPAY_V3:
			notify_wechatpay(ch, body, len, headers, a, v);
			break;
		case NP_STRIPE:
			notify_stripe(ch, body, len, headers, a, v);
			break;
		case NP_ADYEN:
			notify_adyen(ch, body, len, a, v);
			break;
		case NP_HMAC:
			notify_hmac(ch, body, len, headers, a, v);
			break;
	}
}
