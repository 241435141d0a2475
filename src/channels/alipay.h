/*-------------------------------------------------------------------------
 *
 * alipay.h
 *	  Alipay asynchronous notifications (异步通知): a form-encoded POST body
 *	  signed with RSA2 (SHA256withRSA) by Alipay.
 *
 * Backend-free (chan_common.h): the parse gives the content to verify and
 * the signature; notification.c verifies it with crypto.c; then
 * PayconsAlipayFacts reads the facts.
 *
 * IDENTIFICATION
 *	  src/channels/alipay.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_ALIPAY_H
#define PAYCONS_ALIPAY_H

#include "chan_common.h"
#include "form.h"

typedef struct PayconsAlipayNotice
{
	PayconsForm form;
	uint8_t    *sign;			/* the signature, base64-decoded */
	size_t		signlen;
	/* "k=v&..." of every parameter but sign and sign_type, sorted by name */
	char	   *content;
	size_t		contentlen;
} PayconsAlipayNotice;

/*
 * Parse a notification body.  PCH_MALFORMED if it is not a form;
 * PCH_BAD_SIGNATURE if sign is missing or not base64, or sign_type is not
 * RSA2 (RSA, SHA1withRSA, is not accepted).
 */
extern PayconsChanStatus PayconsAlipayParse(const char *body, size_t len,
											PayconsArena *a,
											PayconsAlipayNotice *n,
											PayconsChanError *err);

/*
 * The facts of a verified notification:
 *	- a refund notice (one carrying gmt_refund): the cumulative refund
 *	  refund_fee of trade_no;
 *	- trade_status TRADE_SUCCESS or TRADE_FINISHED: payment total_amount of
 *	  trade_no succeeded;
 *	- TRADE_CLOSED (unpaid, closed): payment of trade_no failed;
 *	- WAIT_BUYER_PAY: ignored.
 * Amounts are yuan text (major units) of the "currency" parameter if
 * present, else of the channel's default currency; order id out_trade_no;
 * merchant app_id.  A charset other than UTF-8 is PCH_BAD_VALUE.
 */
extern PayconsChanStatus PayconsAlipayFacts(const PayconsAlipayNotice *n,
											PayconsArena *a,
											PayconsNoticeFacts *f,
											PayconsChanError *err);

#endif							/* PAYCONS_ALIPAY_H */
