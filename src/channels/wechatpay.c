/*-------------------------------------------------------------------------
 *
 * wechatpay.c
 *	  WeChat Pay APIv3 notifications: the envelope and the decrypted
 *	  resource (see wechatpay.h).  No backend dependency.
 *
 * The envelope (微信支付 APIv3 "支付通知"/"退款结果通知"):
 *	{"id": "EV-...", "create_time": "...", "event_type": "TRANSACTION.SUCCESS",
 *	 "resource_type": "encrypt-resource", "summary": "...",
 *	 "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "<base64>",
 *				  "nonce": "<12 bytes>", "associated_data": "transaction",
 *				  "original_type": "transaction"}}
 * The ciphertext's last 16 bytes are the GCM tag ("证书和回调报文解密").
 *
 * IDENTIFICATION
 *	  src/channels/wechatpay.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "codec.h"
#include "wechatpay.h"

/* Does s[0..len) start with prefix? */
static bool
wechat_prefix(const char *s, size_t len, const char *prefix)
{
	size_t		pl = strlen(prefix);

	return len >= pl && memcmp(s, prefix, pl) == 0;
}

PayconsChanStatus
PayconsWechatParseEnvelope(const char *body, size_t len, PayconsArena *a,
						   PayconsWechatEnvelope *env, PayconsChanError *err)
{
	PayconsJson *root;
	const PayconsJson *res;
	const char *alg;
	size_t		alglen;
	const char *ct;
	size_t		ctlen;
	long		decoded;
	PayconsChanStatus st;

	memset(env, 0, sizeof(*env));
	if ((st = PayconsJsonParse(body, len, a, &root, err)) != PCH_OK)
		return st;
	if (root->kind != PJ_OBJECT)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The notification is not a JSON object.");
	if ((st = PayconsJsonString(root, "id", "id", true, &env->id, &env->id_len,
								a, err)) != PCH_OK ||
		(st = PayconsJsonString(root, "event_type", "event_type", true,
								&env->event_type, &env->event_type_len,
								a, err)) != PCH_OK)
		return st;
	if (wechat_prefix(env->event_type, env->event_type_len, "TRANSACTION."))
		env->resource = PWR_TRANSACTION;
	else if (wechat_prefix(env->event_type, env->event_type_len, "REFUND."))
		env->resource = PWR_REFUND;
	else
		return PCH_OK;			/* ignored: not decrypted */

	if ((st = PayconsJsonObject(root, "resource", "resource", &res, a, err)) != PCH_OK ||
		(st = PayconsJsonString(res, "algorithm", "resource.algorithm", true,
								&alg, &alglen, a, err)) != PCH_OK ||
		(st = PayconsJsonString(res, "ciphertext", "resource.ciphertext", true,
								&ct, &ctlen, a, err)) != PCH_OK ||
		(st = PayconsJsonString(res, "nonce", "resource.nonce", true,
								&env->nonce, &env->nonce_len, a, err)) != PCH_OK ||
		(st = PayconsJsonString(res, "associated_data", "resource.associated_data",
								false, &env->aad, &env->aad_len, a, err)) != PCH_OK)
		return st;
	if (!PayconsChanEq(alg, alglen, "AEAD_AES_256_GCM"))
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The resource's algorithm is \"%.*s\"; only AEAD_AES_256_GCM is known.",
							   PayconsChanClip(alg, alglen, 32), alg);
	if (env->aad == NULL)
	{
		env->aad = "";
		env->aad_len = 0;
	}
	if (env->nonce_len != PAYCONS_WECHAT_NONCE_LEN)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The resource's nonce has %zu bytes; AEAD_AES_256_GCM here uses %d.",
							   env->nonce_len, PAYCONS_WECHAT_NONCE_LEN);
	env->ciphertext = PayconsArenaAlloc(a, PAYCONS_BASE64_MAXDECODED(ctlen));
	if (env->ciphertext == NULL)
		return PayconsChanFail(a, err, PCH_MALFORMED, "out of memory");
	decoded = PayconsBase64Decode(ct, ctlen, env->ciphertext,
								  PAYCONS_BASE64_MAXDECODED(ctlen));
	if (decoded < 0)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The resource's ciphertext is not base64.");
	if ((size_t) decoded <= PAYCONS_WECHAT_TAG_LEN)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The resource's ciphertext is too short to hold the GCM tag.");
	env->ciphertext_len = (size_t) decoded;
	return PCH_OK;
}

PayconsChanStatus
PayconsWechatFacts(const PayconsWechatEnvelope *env, const char *plain,
				   size_t len, PayconsArena *a, PayconsNoticeFacts *f,
				   PayconsChanError *err)
{
	PayconsJson *root;
	const PayconsJson *amount;
	const char *state;
	size_t		statelen;
	PayconsChanStatus st;

	memset(f, 0, sizeof(*f));
	f->event_id = env->id;
	f->event_id_len = env->id_len;
	f->event_type = env->event_type;
	f->event_type_len = env->event_type_len;
	if ((st = PayconsJsonParse(plain, len, a, &root, err)) != PCH_OK)
		return st;
	if (root->kind != PJ_OBJECT)
		return PayconsChanFail(a, err, PCH_MALFORMED,
							   "The decrypted resource is not a JSON object.");
	if ((st = PayconsJsonString(root, "sp_mchid", "sp_mchid", false,
								&f->merchant, &f->merchant_len, a, err)) != PCH_OK)
		return st;
	if (f->merchant == NULL &&
		(st = PayconsJsonString(root, "mchid", "mchid", false,
								&f->merchant, &f->merchant_len, a, err)) != PCH_OK)
		return st;
	if ((st = PayconsJsonString(root, "out_trade_no", "out_trade_no", true,
								&f->order_id, &f->order_len, a, err)) != PCH_OK)
		return st;

	if (env->resource == PWR_TRANSACTION)
	{
		if ((st = PayconsJsonString(root, "trade_state", "trade_state", true,
									&state, &statelen, a, err)) != PCH_OK)
			return st;
		if (PayconsChanEq(state, statelen, "SUCCESS"))
			f->success = true;
		else if (PayconsChanEq(state, statelen, "PAYERROR") ||
				 PayconsChanEq(state, statelen, "CLOSED") ||
				 PayconsChanEq(state, statelen, "REVOKED"))
			f->success = false;
		else if (PayconsChanEq(state, statelen, "NOTPAY") ||
				 PayconsChanEq(state, statelen, "USERPAYING") ||
				 PayconsChanEq(state, statelen, "REFUND"))
		{
			f->kind = PN_IGNORE;
			f->ignored_because = "the transaction is not paid or failed";
			return PCH_OK;
		}
		else
			return PayconsChanFail(a, err, PCH_BAD_VALUE,
								   "The resource's trade_state \"%.*s\" is not one WeChat Pay documents.",
								   PayconsChanClip(state, statelen, 32), state);
		f->kind = PN_PAYMENT;
		if ((st = PayconsJsonString(root, "transaction_id", "transaction_id", true,
									&f->txn_id, &f->txn_len, a, err)) != PCH_OK ||
			(st = PayconsJsonObject(root, "amount", "amount", &amount, a, err)) != PCH_OK ||
			(st = PayconsJsonAmountText(amount, "total", "amount.total",
										&f->amount, &f->amount_len, a, err)) != PCH_OK ||
			(st = PayconsJsonString(amount, "currency", "amount.currency", true,
									&f->currency, &f->currency_len, a, err)) != PCH_OK)
			return st;
		return PCH_OK;
	}

	/* a refund */
	if ((st = PayconsJsonString(root, "refund_status", "refund_status", true,
								&state, &statelen, a, err)) != PCH_OK)
		return st;
	if (PayconsChanEq(state, statelen, "SUCCESS"))
		f->success = true;
	else if (PayconsChanEq(state, statelen, "CLOSED") ||
			 PayconsChanEq(state, statelen, "ABNORMAL"))
		f->success = false;
	else if (PayconsChanEq(state, statelen, "PROCESSING"))
	{
		f->kind = PN_IGNORE;
		f->ignored_because = "the refund is still processing";
		return PCH_OK;
	}
	else
		return PayconsChanFail(a, err, PCH_BAD_VALUE,
							   "The resource's refund_status \"%.*s\" is not one WeChat Pay documents.",
							   PayconsChanClip(state, statelen, 32), state);
	f->kind = PN_REFUND;
	if ((st = PayconsJsonString(root, "refund_id", "refund_id", true,
								&f->txn_id, &f->txn_len, a, err)) != PCH_OK ||
		(st = PayconsJsonObject(root, "amount", "amount", &amount, a, err)) != PCH_OK ||
		(st = PayconsJsonAmountText(amount, "refund", "amount.refund",
									&f->amount, &f->amount_len, a, err)) != PCH_OK ||
		(st = PayconsJsonString(amount, "currency", "amount.currency", false,
								&f->currency, &f->currency_len, a, err)) != PCH_OK)
		return st;
	return PCH_OK;
}

bool
PayconsWechatTimestamp(const char *s, size_t len, int64_t *t)
{
	int64_t		v = 0;

	if (s == NULL || len == 0 || len > 12)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*t = v;
	return true;
}
