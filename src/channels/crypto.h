/*-------------------------------------------------------------------------
 *
 * crypto.h
 *	  The public-key and AEAD cryptography of channel notifications, with
 *	  OpenSSL's libcrypto (the library PostgreSQL itself is built with):
 *	  RSA public keys, SHA256withRSA (PKCS#1 v1.5) verification and
 *	  AES-256-GCM decryption.
 *
 * HMAC-SHA256 stays PostgreSQL's own (common/hmac.h, src/signature.c).
 * Plain C without ereport: each function returns a status, and the caller
 * decides what a failure means.
 *
 * IDENTIFICATION
 *	  src/channels/crypto.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_CRYPTO_H
#define PAYCONS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The smallest RSA modulus accepted, in bits (RSA2 keys are 2048 bits) */
#define PAYCONS_RSA_MIN_BITS 2048

/* Length of an AES-256 key, of a GCM tag */
#define PAYCONS_AES256_KEY_LEN 32
#define PAYCONS_GCM_TAG_LEN 16

/*
 * Decode an RSA public key given as text: a PEM "PUBLIC KEY" (X.509
 * SubjectPublicKeyInfo) or "CERTIFICATE" (its key is taken: WeChat Pay
 * platform certificates), or the bare base64 of a SubjectPublicKeyInfo
 * (how Alipay shows its public key).  On success returns NULL, and the
 * DER SubjectPublicKeyInfo in a malloc'd *der of *derlen bytes (free()
 * it).  Otherwise the reason, a short phrase.  Keys other than RSA, or
 * shorter than PAYCONS_RSA_MIN_BITS, are refused.
 */
extern const char *PayconsRsaPublicKeyDecode(const char *text, size_t len,
											 uint8_t **der, size_t *derlen);

/*
 * Verify a SHA256withRSA (RSASSA-PKCS1-v1_5, SHA-256) signature of msg
 * under the public key der (a SubjectPublicKeyInfo).  Returns 1 if it
 * verifies, 0 if not, -1 if the key cannot be used.  Parsed keys are kept
 * in a small per-process cache keyed by their DER bytes.
 */
extern int	PayconsRsaSha256Verify(const uint8_t *der, size_t derlen,
								   const uint8_t *msg, size_t msglen,
								   const uint8_t *sig, size_t siglen);

/*
 * Decrypt AES-256-GCM: ct is the ciphertext followed by the 16-byte tag
 * (ctlen > 16), out receives ctlen - 16 bytes.  Returns 1 if the tag
 * authenticates key, nonce, aad and ciphertext, 0 if it does not, -1 on an
 * internal failure.
 */
extern int	PayconsAes256GcmDecrypt(const uint8_t *key,
									const uint8_t *nonce, size_t noncelen,
									const uint8_t *aad, size_t aadlen,
									const uint8_t *ct, size_t ctlen,
									uint8_t *out);

#endif							/* PAYCONS_CRYPTO_H */
