/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  RSA public keys, SHA256withRSA verification and AES-256-GCM
 *	  decryption with OpenSSL's libcrypto (see crypto.h).
 *
 * No backend dependency: OpenSSL allocates with malloc and every object
 * is freed before return, except the parsed keys kept in crypto_cache
 * (a handful, for the life of the backend, as a plan cache keeps plans).
 * Nothing here can raise an error, so nothing can leak on a longjmp.
 *
 * IDENTIFICATION
 *	  src/channels/crypto.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "codec.h"
#include "crypto.h"

/* Parsed public keys, by their DER bytes */
#define CRYPTO_CACHE_SIZE 8

typedef struct CryptoCacheEntry
{
	uint8_t    *der;
	size_t		derlen;
	EVP_PKEY   *pkey;
	unsigned long last_used;
} CryptoCacheEntry;

static CryptoCacheEntry crypto_cache[CRYPTO_CACHE_SIZE];
static unsigned long crypto_clock = 0;

/* Check a key is RSA and long enough; NULL if it is, else the reason */
static const char *
crypto_check_rsa(EVP_PKEY *pkey)
{
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
		return "the key is not an RSA key";
	if (EVP_PKEY_get_bits(pkey) < PAYCONS_RSA_MIN_BITS)
		return "the RSA key is shorter than 2048 bits";
	return NULL;
}

const char *
PayconsRsaPublicKeyDecode(const char *text, size_t len, uint8_t **der,
						  size_t *derlen)
{
	EVP_PKEY   *pkey = NULL;
	const char *why;
	unsigned char *out = NULL;
	int			outlen;

	*der = NULL;
	*derlen = 0;
	if (len > 65536)
		return "the key text is too long";

	if (len >= 11 && memcmp(text, "-----BEGIN ", 11) == 0)
	{
		BIO		   *bio = BIO_new_mem_buf(text, (int) len);

		if (bio == NULL)
			return "out of memory";
		if (len >= 27 && memcmp(text, "-----BEGIN CERTIFICATE-----", 27) == 0)
		{
			X509	   *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);

			if (cert != NULL)
			{
				pkey = X509_get_pubkey(cert);
				X509_free(cert);
			}
		}
		else
			pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	else
	{
		/* the bare base64 of a SubjectPublicKeyInfo */
		uint8_t    *buf = malloc(PAYCONS_BASE64_MAXDECODED(len));
		long		n;

		if (buf == NULL)
			return "out of memory";
		n = PayconsBase64Decode(text, len, buf, PAYCONS_BASE64_MAXDECODED(len));
		if (n > 0)
		{
			const unsigned char *p = buf;

			pkey = d2i_PUBKEY(NULL, &p, n);
			if (pkey != NULL && p != buf + n)
			{
				EVP_PKEY_free(pkey);
				pkey = NULL;
			}
		}
		free(buf);
	}
	ERR_clear_error();
	if (pkey == NULL)
		return "the text is not a PEM public key or certificate, nor the base64 of a DER public key";

	if ((why = crypto_check_rsa(pkey)) != NULL)
	{
		EVP_PKEY_free(pkey);
		return why;
	}
	outlen = i2d_PUBKEY(pkey, &out);
	EVP_PKEY_free(pkey);
	if (outlen <= 0)
	{
		ERR_clear_error();
		return "the key cannot be encoded";
	}
	*der = malloc(outlen);
	if (*der == NULL)
	{
		OPENSSL_free(out);
		return "out of memory";
	}
	memcpy(*der, out, outlen);
	*derlen = (size_t) outlen;
	OPENSSL_free(out);
	return NULL;
}

/* The parsed key for der, from the cache or parsed now; NULL if unusable */
static EVP_PKEY *
crypto_get_key(const uint8_t *der, size_t derlen)
{
	CryptoCacheEntry *victim = &crypto_cache[0];
	const unsigned char *p = der;
	EVP_PKEY   *pkey;
	uint8_t    *copy;

	crypto_clock++;
	for (int i = 0; i < CRYPTO_CACHE_SIZE; i++)
	{
		CryptoCacheEntry *e = &crypto_cache[i];

		if (e->pkey != NULL && e->derlen == derlen &&
			memcmp(e->der, der, derlen) == 0)
		{
			e->last_used = crypto_clock;
			return e->pkey;
		}
		if (e->pkey == NULL || (victim->pkey != NULL && e->last_used < victim->last_used))
			victim = e;
	}

	pkey = d2i_PUBKEY(NULL, &p, (long) derlen);
	if (pkey == NULL || p != der + derlen || crypto_check_rsa(pkey) != NULL)
	{
		ERR_clear_error();
		if (pkey != NULL)
			EVP_PKEY_free(pkey);
		return NULL;
	}
	copy = malloc(derlen);
	if (copy == NULL)
	{
		EVP_PKEY_free(pkey);
		return NULL;
	}
	memcpy(copy, der, derlen);
	if (victim->pkey != NULL)
	{
		EVP_PKEY_free(victim->pkey);
		free(victim->der);
	}
	victim->der = copy;
	victim->derlen = derlen;
	victim->pkey = pkey;
	victim->last_used = crypto_clock;
	return pkey;
}

int
PayconsRsaSha256Verify(const uint8_t *der, size_t derlen,
					   const uint8_t *msg, size_t msglen,
					   const uint8_t *sig, size_t siglen)
{
	EVP_PKEY   *pkey = crypto_get_key(der, derlen);
	EVP_MD_CTX *ctx;
	int			rc;

	if (pkey == NULL)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1)
	{
		EVP_MD_CTX_free(ctx);
		ERR_clear_error();
		return -1;
	}
	/* the default padding of an RSA key is PKCS#1 v1.5 */
	rc = EVP_DigestVerify(ctx, sig, siglen, msg, msglen);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc == 1 ? 1 : 0;
}

int
PayconsAes256GcmDecrypt(const uint8_t *key, const uint8_t *nonce,
						size_t noncelen, const uint8_t *aad, size_t aadlen,
						const uint8_t *ct, size_t ctlen, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	size_t		datalen;
	int			outl = 0;
	int			finl = 0;
	int			ok = -1;

	if (ctlen <= PAYCONS_GCM_TAG_LEN || noncelen == 0 || noncelen > 64 ||
		ctlen > (size_t) 0x7FFFFFFF || aadlen > (size_t) 0x7FFFFFFF)
		return -1;
	datalen = ctlen - PAYCONS_GCM_TAG_LEN;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -1;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int) noncelen, NULL) != 1 ||
		EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
		(aadlen > 0 &&
		 EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int) aadlen) != 1) ||
		EVP_DecryptUpdate(ctx, out, &outl, ct, (int) datalen) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PAYCONS_GCM_TAG_LEN,
							(void *) (ct + datalen)) != 1)
		goto done;
	/* the tag is checked here */
	ok = EVP_DecryptFinal_ex(ctx, out + outl, &finl) == 1 ? 1 : 0;
	if (ok == 1 && (size_t) (outl + finl) != datalen)
		ok = -1;
done:
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (ok != 1)
		memset(out, 0, datalen);
	return ok;
}
