/*
 * 55_channels.sql -- issue 14: channel protocols.  The keys each channel
 * verifies and decrypts with (several per channel, for rotation), the
 * owner-only functions that add and retire them, and
 * paycons.apply_notification(), the webhook handler's one call.  The
 * protocol columns of paycons.channels are in 50_callbacks.sql.  See
 * doc/channels.md.
 */

CREATE TABLE paycons.channel_keys (
    channel    text NOT NULL
               REFERENCES paycons.channels (channel) ON DELETE CASCADE ON UPDATE CASCADE,
    key_id     text NOT NULL
               CONSTRAINT channel_keys_key_id_length CHECK (octet_length(key_id) BETWEEN 1 AND 128),
    kind       text NOT NULL
               CONSTRAINT channel_keys_kind_valid CHECK (kind IN ('rsa_public', 'aes256', 'hmac')),
    key        bytea NOT NULL
               CONSTRAINT channel_keys_key_not_empty CHECK (octet_length(key) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    PRIMARY KEY (channel, key_id)
);
COMMENT ON TABLE paycons.channel_keys IS
    'keys apply_notification verifies and decrypts with, several per channel for rotation; readable by the extension owner only';
COMMENT ON COLUMN paycons.channel_keys.key_id IS
    'the key''s name; for WeChat Pay the platform certificate serial (or public key id) that Wechatpay-Serial names';
COMMENT ON COLUMN paycons.channel_keys.kind IS
    'rsa_public (DER SubjectPublicKeyInfo: Alipay, WeChat Pay platform), aes256 (WeChat Pay APIv3 key), hmac (Stripe, Adyen, generic)';
COMMENT ON COLUMN paycons.channel_keys.key IS 'the key bytes (never granted to any other role)';
COMMENT ON COLUMN paycons.channel_keys.retired_at IS 'when the key was retired; retired keys are not used';
SELECT pg_catalog.pg_extension_config_dump('paycons.channel_keys', '');

CREATE FUNCTION paycons.channel_key_decode(kind text, key text)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'paycons_channel_key_decode'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.channel_key_decode(text, text) IS
    'a channel key as the channel hands it out (PEM, base64 DER, 32-byte text, hex) as the bytes channel_keys stores (owner only)';

/*
 * Key management: owner only (no EXECUTE for anyone else; the functions
 * run as the caller, who must be able to write paycons.channel_keys).
 */
CREATE FUNCTION paycons.set_channel_key(channel text, key_id text, kind text, key text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    stored_kind text;
BEGIN
    IF set_channel_key.channel IS NULL OR set_channel_key.key_id IS NULL
       OR set_channel_key.kind IS NULL OR set_channel_key.key IS NULL THEN
        RAISE EXCEPTION 'channel, key_id, kind and key must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT FROM paycons.channels c
                    WHERE c.channel OPERATOR(pg_catalog.=) set_channel_key.channel) THEN
        RAISE EXCEPTION 'payment channel "%" is not registered', set_channel_key.channel
            USING ERRCODE = 'PC106', HINT = 'Register it with paycons.set_channel() first.';
    END IF;
    IF octet_length(set_channel_key.key_id) NOT BETWEEN 1 AND 128
       OR set_channel_key.key_id OPERATOR(pg_catalog.~) '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid key id "%"', set_channel_key.key_id
            USING ERRCODE = 'PC127', DETAIL = 'A key id has 1 to 128 bytes and no control characters.';
    END IF;
    stored_kind := CASE WHEN set_channel_key.kind OPERATOR(pg_catalog.=) 'hmac_hex' THEN 'hmac'
                        ELSE set_channel_key.kind END;
    INSERT INTO paycons.channel_keys AS k (channel, key_id, kind, key)
    VALUES (set_channel_key.channel, set_channel_key.key_id, stored_kind,
            paycons.channel_key_decode(set_channel_key.kind, set_channel_key.key))
    ON CONFLICT ON CONSTRAINT channel_keys_pkey DO UPDATE
       SET kind = EXCLUDED.kind, key = EXCLUDED.key, created_at = pg_catalog.now(),
           retired_at = NULL;
END;
$$;
COMMENT ON FUNCTION paycons.set_channel_key(text, text, text, text) IS
    'add or replace a channel key (owner only): kind rsa_public, aes256, hmac or hmac_hex; a replaced or re-added key is active again';

CREATE FUNCTION paycons.retire_channel_key(channel text, key_id text)
    RETURNS boolean
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH r AS (
        UPDATE paycons.channel_keys k SET retired_at = pg_catalog.now()
         WHERE k.channel OPERATOR(pg_catalog.=) retire_channel_key.channel
           AND k.key_id OPERATOR(pg_catalog.=) retire_channel_key.key_id
           AND k.retired_at IS NULL
        RETURNING 1)
    SELECT EXISTS (SELECT FROM r)
$$;
COMMENT ON FUNCTION paycons.retire_channel_key(text, text) IS
    'retire a channel key (owner only): apply_notification no longer uses it; false if there was no such active key';

CREATE FUNCTION paycons.apply_notification(
    channel text,
    body text,
    headers jsonb DEFAULT '{}',
    OUT outcome text,
    OUT state paycons.order_state,
    OUT duplicate boolean,
    OUT first_seen_at timestamptz,
    OUT ack_status integer,
    OUT ack_body text,
    OUT order_id text,
    OUT channel_txn_id text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_apply_notification'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.apply_notification(text, text, jsonb) IS
    'the webhook handler''s one call: verify, decrypt and parse a channel''s raw notification by its protocol, apply the facts of the signed body exactly once, and return the HTTP status and body the channel expects';
