/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  paycons.channel_key_decode(kind, key): a channel key as the channel
 *	  hands it out, turned into the bytes paycons.channel_keys stores, or a
 *	  PC127 error saying why it cannot be used.
 *
 *	- rsa_public: a PEM public key, a PEM certificate (WeChat Pay platform
 *	  certificates), or the bare base64 of a DER public key (how Alipay
 *	  shows "支付宝公钥"); stored as DER SubjectPublicKeyInfo; RSA of at least
 *	  2048 bits only.
 *	- aes256: WeChat Pay's APIv3 key, 32 characters used as its 32 bytes.
 *	- hmac: a secret used as the bytes of its text (Stripe's "whsec_...",
 *	  the generic protocol's secrets).
 *	- hmac_hex: a secret given in hex (Adyen's HMAC key); stored as hmac.
 *
 * Called by paycons.set_channel_key (owner only).
 *
 * IDENTIFICATION
 *	  src/channels/keys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "codec.h"
#include "crypto.h"
#include "notification.h"

PG_FUNCTION_INFO_V1(paycons_channel_key_decode);

/* Longest key text accepted */
#define KEYS_MAX_TEXT 65536

static bytea *
keys_bytea(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

static void
keys_refuse(const char *kind, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_INVALID_CHANNEL_KEY),
			 errmsg("invalid %s channel key: %s", kind, why)));
}

Datum
paycons_channel_key_decode(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *keyt = PG_GETARG_TEXT_PP(1);
	const char *key = VARDATA_ANY(keyt);
	size_t		len = VARSIZE_ANY_EXHDR(keyt);

	if (len == 0)
		keys_refuse(kind, "the key is empty");
	if (len > KEYS_MAX_TEXT)
		keys_refuse(kind, "the key text is longer than 64 kB");

	if (strcmp(kind, "rsa_public") == 0)
	{
		uint8_t    *der;
		size_t		derlen;
		const char *why = PayconsRsaPublicKeyDecode(key, len, &der, &derlen);
		bytea	   *result;

		if (why != NULL)
			keys_refuse(kind, why);
		result = keys_bytea(der, derlen);
		free(der);
		PG_RETURN_BYTEA_P(result);
	}
	if (strcmp(kind, "aes256") == 0)
	{
		if (len != PAYCONS_AES256_KEY_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_INVALID_CHANNEL_KEY),
					 errmsg("invalid aes256 channel key: it has %zu bytes, not %d",
							len, PAYCONS_AES256_KEY_LEN),
					 errhint("WeChat Pay's APIv3 key is the 32-character text set in the merchant platform.")));
		PG_RETURN_BYTEA_P(keys_bytea((const uint8 *) key, len));
	}
	if (strcmp(kind, "hmac") == 0)
		PG_RETURN_BYTEA_P(keys_bytea((const uint8 *) key, len));
	if (strcmp(kind, "hmac_hex") == 0)
	{
		uint8	   *buf = palloc(len / 2 + 1);

		if (!PayconsHexDecode(key, len, buf))
			keys_refuse(kind, "the key is not hex (an even number of hex digits)");
		PG_RETURN_BYTEA_P(keys_bytea(buf, len / 2));
	}
	ereport(ERROR,
			(errcode(ERRCODE_PAYCONS_INVALID_CHANNEL_KEY),
			 errmsg("unknown channel key kind \"%s\"", kind),
			 errhint("Use rsa_public, aes256, hmac or hmac_hex.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}
