/*
 * fuzz_wechatpay.c -- libFuzzer target: WeChat Pay v3 notifications
 * (src/channels/wechatpay.c).  The first byte chooses what the rest is: a
 * notification envelope (parsed up to the resource to decrypt), or the
 * decrypted resource of a TRANSACTION or REFUND notification (its facts),
 * or a Wechatpay-Timestamp header.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_wechatpay.c
 */
#include "fuzz_common.h"
#include "wechatpay.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzArena	fa = {NULL, 0};
	PayconsArena a = {fuzz_alloc, &fa};
	PayconsWechatEnvelope env;
	PayconsNoticeFacts f;
	PayconsChanError err;
	const char *body = (const char *) data + 1;
	int64_t		t;

	if (size < 1)
		return 0;
	switch (data[0] % 4)
	{
		case 0:
			if (PayconsWechatParseEnvelope(body, size - 1, &a, &env, &err) == PCH_OK &&
				env.resource != PWR_NONE)
			{
				fuzz_touch((const char *) env.ciphertext, env.ciphertext_len);
				fuzz_touch(env.nonce, env.nonce_len);
				fuzz_touch(env.aad, env.aad_len);
				if (env.nonce_len != PAYCONS_WECHAT_NONCE_LEN ||
					env.ciphertext_len <= PAYCONS_WECHAT_TAG_LEN)
					abort();
			}
			break;
		case 1:
		case 2:
			memset(&env, 0, sizeof(env));
			env.resource = data[0] % 4 == 1 ? PWR_TRANSACTION : PWR_REFUND;
			env.id = "EV-fuzz";
			env.id_len = 7;
			env.event_type = "TRANSACTION.SUCCESS";
			env.event_type_len = 19;
			if (PayconsWechatFacts(&env, body, size - 1, &a, &f, &err) == PCH_OK)
				fuzz_facts(&f, &a);
			break;
		default:
			(void) PayconsWechatTimestamp(body, size - 1, &t);
			break;
	}
	fuzz_arena_free(&fa);
	return 0;
}
