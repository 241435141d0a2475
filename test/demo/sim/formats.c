/*-------------------------------------------------------------------------
 *
 * formats.c
 *	  What the channels put on the wire: Alipay's form-encoded async
 *	  notification signed with RSA2 over the sorted parameters, and WeChat
 *	  Pay APIv3's JSON notification whose resource is encrypted with
 *	  AES-256-GCM under the APIv3 key, signed over
 *	  "timestamp\nnonce\nbody\n" in the Wechatpay-* headers.
 *
 * The rules are the ones doc/channels.md describes (and paycons checks);
 * they are the channels' published rules.  OpenSSL's libcrypto does the
 * cryptography.
 *
 * IDENTIFICATION
 *	  test/demo/sim/formats.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

/* a growing string */
typedef struct Buf
{
	char	   *s;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_add(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	for (;;)
	{
		size_t		room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf failed");
		if (b->s && (size_t) n < room)
		{
			b->len += n;
			return;
		}
		b->cap = (b->cap ? b->cap * 2 : 256) + n + 1;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			die("out of memory");
	}
}

char *
b64(const unsigned char *data, size_t len)
{
	char	   *out = malloc(4 * ((len + 2) / 3) + 1);

	if (!out)
		die("out of memory");
	EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	return out;
}

EVP_PKEY *
load_private_key(const char *path)
{
	FILE	   *f = fopen(path, "r");
	EVP_PKEY   *k;

	if (!f)
		die("cannot open key %s", path);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		die("cannot read private key %s", path);
	return k;
}

/* base64 SHA256withRSA (PKCS#1 v1.5) signature of msg */
char *
rsa_sign_b64(EVP_PKEY *key, const char *msg, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024];
	size_t		siglen = sizeof(sig);

	if (!ctx ||
		EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
		EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) msg, len) != 1)
		die("RSA signature failed");
	EVP_MD_CTX_free(ctx);
	return b64(sig, siglen);
}

/*
 * beijing_time: the channels' clocks read Beijing time (UTC+8, no daylight
 * saving).  style 0: "YYYY-MM-DD HH:MM:SS"; 1: RFC 3339 with +08:00;
 * 2: with milliseconds (Alipay's gmt_refund).
 */
void
beijing_time(double wall, char *buf, size_t len, int style)
{
	time_t		t = (time_t) wall + 8 * 3600;
	struct tm	tm;
	int			ms = (int) ((wall - (double) (time_t) wall) * 1000.0);

	gmtime_r(&t, &tm);
	if (style == 1)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
	else if (style == 2)
	{
		char		tmp[32];

		strftime(tmp, sizeof(tmp), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(buf, len, "%s.%03d", tmp, ms);
	}
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* minor units (fen) as yuan text, exactly: 1230 -> "12.30" */
void
yuan(int64_t fen, char *buf, size_t len)
{
	const char *sign = fen < 0 ? "-" : "";
	int64_t		a = fen < 0 ? -fen : fen;

	snprintf(buf, len, "%s%lld.%02lld", sign, (long long) (a / 100), (long long) (a % 100));
}

/* ---- Alipay ---- */

typedef struct Param
{
	const char *k;
	char	   *v;
} Param;

static int
param_cmp(const void *a, const void *b)
{
	return strcmp(((const Param *) a)->k, ((const Param *) b)->k);
}

static void
form_escape(Buf *b, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~')
			buf_add(b, "%c", c);
		else if (c == ' ')
			buf_add(b, "+");
		else
			buf_add(b, "%%%02X", c);
	}
}

/*
 * alipay_sign_form: sign the parameters as Alipay does -- every parameter
 * but sign and sign_type, sorted by name, "k=v" joined with '&', raw
 * values, SHA256withRSA -- and return the form body with sign and
 * sign_type added (in Alipay's habit, sign_type first).
 */
static char *
alipay_sign_form(Param *p, int n, EVP_PKEY *key)
{
	Buf			content = {0};
	Buf			body = {0};
	char	   *sig;
	int			i;

	qsort(p, n, sizeof(Param), param_cmp);
	for (i = 0; i < n; i++)
		buf_add(&content, "%s%s=%s", i ? "&" : "", p[i].k, p[i].v);
	sig = rsa_sign_b64(key, content.s, content.len);

	buf_add(&body, "sign_type=RSA2&sign=");
	form_escape(&body, sig);
	for (i = 0; i < n; i++)
	{
		buf_add(&body, "&%s=", p[i].k);
		form_escape(&body, p[i].v);
	}
	free(sig);
	free(content.s);
	for (i = 0; i < n; i++)
		free(p[i].v);
	return body.s;
}

static char *
xstrdup(const char *s)
{
	char	   *d = strdup(s);

	if (!d)
		die("out of memory");
	return d;
}

static int
alipay_common(Order *o, Param *p, const char *trade_no, const char *status, int64_t amount)
{
	char		t_create[32],
				t_pay[32],
				t_now[32],
				amt[32],
				notify_id[64],
				fund[128];
	int			n = 0;

	beijing_time(o->paid_wall > 0 ? o->paid_wall - 3 : wall_now(), t_create, sizeof(t_create), 0);
	beijing_time(o->paid_wall > 0 ? o->paid_wall : wall_now(), t_pay, sizeof(t_pay), 0);
	beijing_time(wall_now(), t_now, sizeof(t_now), 0);
	yuan(amount, amt, sizeof(amt));
	snprintf(notify_id, sizeof(notify_id), "2026%s%06d", trade_no + 8, o->idx);
	snprintf(fund, sizeof(fund), "[{\"amount\":\"%s\",\"fundChannel\":\"ALIPAYACCOUNT\"}]", amt);

	p[n++] = (Param) {"gmt_create", xstrdup(t_create)};
	p[n++] = (Param) {"charset", xstrdup("utf-8")};
	p[n++] = (Param) {"seller_email", xstrdup("shop@example.com")};
	p[n++] = (Param) {"subject", xstrdup(o->subject)};
	p[n++] = (Param) {"buyer_id", xstrdup("2088102177846880")};
	p[n++] = (Param) {"invoice_amount", xstrdup(amt)};
	p[n++] = (Param) {"notify_id", xstrdup(notify_id)};
	p[n++] = (Param) {"fund_bill_list", xstrdup(fund)};
	p[n++] = (Param) {"notify_type", xstrdup("trade_status_sync")};
	p[n++] = (Param) {"trade_status", xstrdup(status)};
	p[n++] = (Param) {"receipt_amount", xstrdup(amt)};
	p[n++] = (Param) {"app_id", xstrdup(params.alipay_app_id)};
	p[n++] = (Param) {"buyer_pay_amount", xstrdup(amt)};
	p[n++] = (Param) {"seller_id", xstrdup("2088102169940354")};
	p[n++] = (Param) {"gmt_payment", xstrdup(t_pay)};
	p[n++] = (Param) {"notify_time", xstrdup(t_now)};
	p[n++] = (Param) {"version", xstrdup("1.0")};
	p[n++] = (Param) {"out_trade_no", xstrdup(o->id)};
	p[n++] = (Param) {"total_amount", xstrdup(amt)};
	p[n++] = (Param) {"trade_no", xstrdup(trade_no)};
	p[n++] = (Param) {"auth_app_id", xstrdup(params.alipay_app_id)};
	p[n++] = (Param) {"point_amount", xstrdup("0.00")};
	return n;
}

/*
 * A payment notice: TRADE_SUCCESS for the payment, TRADE_CLOSED for the
 * customer's failed first trade.  key: Alipay's key, or the attacker's.
 */
char *
alipay_payment_notice(Order *o, bool success, EVP_PKEY *key)
{
	Param		p[32];
	int			n;

	if (success)
		n = alipay_common(o, p, o->txn, "TRADE_SUCCESS", o->pay_amount);
	else
	{
		char		t_close[32];

		n = alipay_common(o, p, o->fail_txn, "TRADE_CLOSED", o->amount);
		beijing_time(wall_now(), t_close, sizeof(t_close), 0);
		p[n++] = (Param) {"gmt_close", xstrdup(t_close)};
	}
	return alipay_sign_form(p, n, key);
}

/*
 * A refund notice: Alipay states the total refunded for the trade so far
 * (refund_fee), with out_biz_no, the merchant's refund request number;
 * TRADE_CLOSED once everything went back.
 */
char *
alipay_refund_notice(Order *o, int refund_no, EVP_PKEY *key)
{
	Refund	   *r = &o->refunds[refund_no];
	Param		p[32];
	int			n;
	int64_t		total = 0;
	char		fee[32],
				t_ref[40];
	int			i;

	for (i = 0; i <= refund_no; i++)
		if (o->refunds[i].ok)
			total += o->refunds[i].amount;
	n = alipay_common(o, p, o->txn, total >= o->pay_amount ? "TRADE_CLOSED" : "TRADE_SUCCESS",
					  o->pay_amount);
	yuan(total, fee, sizeof(fee));
	beijing_time(r->wall, t_ref, sizeof(t_ref), 2);
	p[n++] = (Param) {"refund_fee", xstrdup(fee)};
	p[n++] = (Param) {"gmt_refund", xstrdup(t_ref)};
	p[n++] = (Param) {"out_biz_no", xstrdup(r->request_no)};
	return alipay_sign_form(p, n, key);
}

/* ---- WeChat Pay APIv3 ---- */

static void
rand_chars(Rng *rng, char *buf, int n)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	int			i;

	for (i = 0; i < n; i++)
		buf[i] = alnum[rng_int(rng, 62)];
	buf[n] = '\0';
}

/* AES-256-GCM under the APIv3 key; returns base64(ciphertext || tag) */
static char *
gcm_seal(const char *nonce, const char *aad, const char *plain)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t		plen = strlen(plain);
	unsigned char *out = malloc(plen + 16);
	int			len,
				fin;
	char	   *res;

	if (!c || !out ||
		EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int) strlen(nonce), NULL) != 1 ||
		EVP_EncryptInit_ex(c, NULL, NULL, world.apiv3, (const unsigned char *) nonce) != 1 ||
		EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *) aad, (int) strlen(aad)) != 1 ||
		EVP_EncryptUpdate(c, out, &len, (const unsigned char *) plain, (int) plen) != 1 ||
		EVP_EncryptFinal_ex(c, out + len, &fin) != 1 ||
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + len + fin) != 1)
		die("AES-256-GCM failed");
	res = b64(out, (size_t) len + fin + 16);
	EVP_CIPHER_CTX_free(c);
	free(out);
	return res;
}

/*
 * The notification body: the envelope, and the resource -- a transaction
 * (TRANSACTION.SUCCESS, or the failed first attempt with trade_state
 * PAYERROR) or a refund (REFUND.SUCCESS / REFUND.ABNORMAL) -- encrypted.
 */
char *
wechat_notice_body(Order *o, NoticeKind kind, int refund_no, Rng *rng)
{
	Buf			plain = {0};
	Buf			body = {0};
	char		nonce[13],
				t_ev[40],
				t_ok[40];
	const char *event,
			   *summary,
			   *rtype;
	char	   *ct;
	char		evid[64];

	rand_chars(rng, nonce, 12);
	beijing_time(wall_now(), t_ev, sizeof(t_ev), 1);
	if (kind == N_REFUND_SUCCESS || kind == N_REFUND_FAILED)
	{
		Refund	   *r = &o->refunds[refund_no];
		bool		ok = kind == N_REFUND_SUCCESS;

		beijing_time(r->wall, t_ok, sizeof(t_ok), 1);
		event = ok ? "REFUND.SUCCESS" : "REFUND.ABNORMAL";
		summary = ok ? "退款成功" : "退款异常";
		rtype = "refund";
		buf_add(&plain, "{\"mchid\":\"%s\",\"out_trade_no\":\"%s\",\"transaction_id\":\"%s\","
				"\"out_refund_no\":\"%s\",\"refund_id\":\"%s\",\"refund_status\":\"%s\","
				"%s%s%s\"user_received_account\":\"支付用户零钱\","
				"\"amount\":{\"total\":%lld,\"refund\":%lld,\"payer_total\":%lld,\"payer_refund\":%lld}}",
				params.wechat_mchid, o->id, o->txn, r->request_no, r->refund_id,
				ok ? "SUCCESS" : "ABNORMAL",
				ok ? "\"success_time\":\"" : "", ok ? t_ok : "", ok ? "\"," : "",
				(long long) o->pay_amount, (long long) r->amount,
				(long long) o->pay_amount, (long long) r->amount);
		snprintf(evid, sizeof(evid), "EV-%s-%d", r->refund_id, ok);
	}
	else
	{
		bool		ok = kind != N_PAY_FAILED;

		beijing_time(o->paid_wall > 0 ? o->paid_wall : wall_now(), t_ok, sizeof(t_ok), 1);
		event = "TRANSACTION.SUCCESS";
		summary = ok ? "支付成功" : "支付失败";
		rtype = "transaction";
		buf_add(&plain, "{\"mchid\":\"%s\",\"appid\":\"wxd930ea5d5a258f4f\",\"out_trade_no\":\"%s\","
				"\"transaction_id\":\"%s\",\"trade_type\":\"NATIVE\",\"trade_state\":\"%s\","
				"\"trade_state_desc\":\"%s\",\"bank_type\":\"CMB_CREDIT\",\"attach\":\"\","
				"\"success_time\":\"%s\",\"payer\":{\"openid\":\"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o\"},"
				"\"amount\":{\"total\":%lld,\"payer_total\":%lld,\"currency\":\"CNY\",\"payer_currency\":\"CNY\"}}",
				params.wechat_mchid, o->id, o->txn, ok ? "SUCCESS" : "PAYERROR",
				ok ? "支付成功" : "银行卡余额不足", t_ok,
				(long long) (ok ? o->pay_amount : o->amount),
				(long long) (ok ? o->pay_amount : o->amount));
		snprintf(evid, sizeof(evid), "EV-%s-%s", o->txn, ok ? "1" : "F");
	}
	ct = gcm_seal(nonce, rtype, plain.s);
	buf_add(&body, "{\"id\":\"%s\",\"create_time\":\"%s\",\"resource_type\":\"encrypt-resource\","
			"\"event_type\":\"%s\",\"summary\":\"%s\",\"resource\":{\"original_type\":\"%s\","
			"\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"%s\",\"associated_data\":\"%s\","
			"\"nonce\":\"%s\"}}",
			evid, t_ev, event, summary, rtype, ct, rtype, nonce);
	free(ct);
	free(plain.s);
	return body.s;
}

/*
 * The headers of one HTTP request: every request is signed anew (its own
 * timestamp and nonce), over "timestamp\nnonce\nbody\n".
 */
char *
wechat_headers(const char *body, EVP_PKEY *key, Rng *rng)
{
	char		nonce[33];
	long		ts = (long) wall_now();
	Buf			msg = {0};
	Buf			h = {0};
	char	   *sig;

	rand_chars(rng, nonce, 32);
	buf_add(&msg, "%ld\n%s\n%s\n", ts, nonce, body);
	sig = rsa_sign_b64(key, msg.s, msg.len);
	buf_add(&h, "{\"Content-Type\": \"application/json\", \"Wechatpay-Timestamp\": \"%ld\", "
			"\"Wechatpay-Nonce\": \"%s\", \"Wechatpay-Signature\": \"%s\", "
			"\"Wechatpay-Serial\": \"%s\", \"Wechatpay-Signature-Type\": \"WECHATPAY2-SHA256-RSA2048\"}",
			ts, nonce, sig, params.wechat_serial);
	free(sig);
	free(msg.s);
	return h.s;
}
