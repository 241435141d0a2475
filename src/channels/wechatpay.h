/*-------------------------------------------------------------------------
 *
 * wechatpay.h
 *	  WeChat Pay APIv3 notifications (回调通知): a JSON envelope signed with
 *	  the platform key (SHA256withRSA over "timestamp\nnonce\nbody\n", the
 *	  key chosen by the Wechatpay-Serial header), whose "resource" is
 *	  AEAD_AES_256_GCM ciphertext under the merchant's APIv3 key.
 *
 * Backend-free (chan_common.h): notification.c verifies the signature and
 * decrypts with crypto.c; these functions parse the envelope before
 * decryption and the resource after it.
 *
 * IDENTIFICATION
 *	  src/channels/wechatpay.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_WECHATPAY_H
#define PAYCONS_WECHATPAY_H

#include "chan_common.h"
#include "json.h"

/* Lengths the documentation fixes */
#define PAYCONS_WECHAT_NONCE_LEN	12	/* resource.nonce, bytes */
#define PAYCONS_WECHAT_TAG_LEN		16	/* GCM tag at the end of the ciphertext */

typedef enum PayconsWechatResource
{
	PWR_NONE = 0,				/* an event paycons does not apply */
	PWR_TRANSACTION,			/* TRANSACTION.*: a payment */
	PWR_REFUND					/* REFUND.*: a refund */
} PayconsWechatResource;

typedef struct PayconsWechatEnvelope
{
	const char *id;				/* the notification id */
	size_t		id_len;
	const char *event_type;
	size_t		event_type_len;
	PayconsWechatResource resource;
	/* set when resource != PWR_NONE */
	uint8_t    *ciphertext;		/* base64-decoded: ciphertext || 16-byte tag */
	size_t		ciphertext_len;
	const char *nonce;			/* 12 bytes */
	size_t		nonce_len;
	const char *aad;			/* associated_data, may be empty */
	size_t		aad_len;
} PayconsWechatEnvelope;

/*
 * Parse the verified envelope.  Events other than TRANSACTION.* and
 * REFUND.* get resource PWR_NONE (ignored without decryption).  For those
 * two, resource.algorithm must be AEAD_AES_256_GCM (else PCH_BAD_VALUE),
 * the nonce 12 bytes and the ciphertext base64 longer than the tag (else
 * PCH_MALFORMED).
 */
extern PayconsChanStatus PayconsWechatParseEnvelope(const char *body, size_t len,
													PayconsArena *a,
													PayconsWechatEnvelope *env,
													PayconsChanError *err);

/*
 * The facts of a decrypted resource (plaintext JSON):
 *	- PWR_TRANSACTION, trade_state SUCCESS: payment transaction_id
 *	  succeeded, amount.total fen of amount.currency; PAYERROR, CLOSED,
 *	  REVOKED: that payment failed; other states: ignored;
 *	- PWR_REFUND, refund_status SUCCESS: refund refund_id of amount.refund
 *	  (currency amount.currency, else the channel's default); CLOSED,
 *	  ABNORMAL: that refund failed.
 * Order id out_trade_no; merchant mchid (sp_mchid for a service provider).
 */
extern PayconsChanStatus PayconsWechatFacts(const PayconsWechatEnvelope *env,
											const char *plain, size_t len,
											PayconsArena *a,
											PayconsNoticeFacts *f,
											PayconsChanError *err);

/*
 * The Wechatpay-Timestamp header as seconds since 1970: false if it is not
 * 1 to 12 decimal digits.
 */
extern bool PayconsWechatTimestamp(const char *s, size_t len, int64_t *t);

#endif							/* PAYCONS_WECHATPAY_H */
