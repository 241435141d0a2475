#!/usr/bin/env python3
"""
bench/notifications/gen.py N OUTDIR -- N Alipay and N WeChat Pay v3
notifications for orders bn-ali-1..N and bn-wx-1..N, signed (and, for WeChat
Pay, encrypted) with the TEST-ONLY keys of test/fixtures/channels/, written
as COPY text files OUTDIR/alipay.tsv and OUTDIR/wechat.tsv (n, body,
headers).  The WeChat Pay signatures carry the current time: load and run
them within the channel's tolerance (setup.sql sets one hour).
Needs python3-cryptography.
"""
import json
import os
import sys
import time
import urllib.parse
from base64 import b64encode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "..", "..", "test", "fixtures", "channels", "keys")
APIV3_KEY = b"paycons-TEST-ONLY-apiv3-key-0001"
SERIAL_A = "PUB_KEY_ID_0000000000000000000000TESTA"


def load(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def esc(s):
    """COPY text format"""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    ali, wx = load("alipay_test_private.pem"), load("wechat_platform_a_test_private.pem")
    aes = AESGCM(APIV3_KEY)
    ts = str(int(time.time()))
    with open(os.path.join(out, "alipay.tsv"), "w") as fa, \
            open(os.path.join(out, "wechat.tsv"), "w") as fw:
        for i in range(1, n + 1):
            p = {"notify_time": "2024-05-20 14:10:49", "notify_type": "trade_status_sync",
                 "notify_id": "bench%012d" % i, "app_id": "2021000000000001", "charset": "utf-8",
                 "version": "1.0", "trade_no": "2024052022%012d" % i, "out_trade_no": "bn-ali-%d" % i,
                 "buyer_id": "2088102116773037", "seller_id": "2088102119685838",
                 "trade_status": "TRADE_SUCCESS", "total_amount": "12.30", "receipt_amount": "12.30",
                 "subject": "大乐透 2.1", "gmt_create": "2024-05-20 14:10:44",
                 "gmt_payment": "2024-05-20 14:10:47", "sign_type": "RSA2"}
            content = "&".join("%s=%s" % (k, p[k]) for k in sorted(p) if k not in ("sign", "sign_type"))
            p["sign"] = b64encode(ali.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
            body = "&".join(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v, safe="")
                            for k, v in p.items())
            fa.write("%d\t%s\t{}\n" % (i, esc(body)))

            plain = {"mchid": "1900000001", "appid": "wxd678efh567hg6787", "out_trade_no": "bn-wx-%d" % i,
                     "transaction_id": "42000000012024%014d" % i, "trade_type": "JSAPI",
                     "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "CMC",
                     "success_time": "2024-05-20T13:29:35+08:00", "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                     "amount": {"total": 1230, "payer_total": 1230, "currency": "CNY", "payer_currency": "CNY"}}
            nonce = "%012d" % i
            ct = aes.encrypt(nonce.encode(), json.dumps(plain, ensure_ascii=False,
                                                        separators=(",", ":")).encode(), b"transaction")
            env = json.dumps({"id": "EV-bench-%d" % i, "create_time": "2024-05-20T13:29:35+08:00",
                              "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS",
                              "summary": "支付成功",
                              "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                                           "ciphertext": b64encode(ct).decode(),
                                           "associated_data": "transaction", "nonce": nonce}},
                             ensure_ascii=False, separators=(",", ":"))
            wnonce = "bench-nonce-%d" % i
            msg = "%s\n%s\n%s\n" % (ts, wnonce, env)
            sig = b64encode(wx.sign(msg.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
            headers = json.dumps({"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": wnonce,
                                  "Wechatpay-Signature": sig, "Wechatpay-Serial": SERIAL_A})
            fw.write("%d\t%s\t%s\n" % (i, esc(env), esc(headers)))


if __name__ == "__main__":
    main()
