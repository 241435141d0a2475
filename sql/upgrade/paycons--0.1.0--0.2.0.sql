/*
 * paycons--0.1.0--0.2.0.sql -- upgrade from 0.1.0 (the first release) to
 * 0.2.0.
 *
 * Every schema change of the 0.2.0 round lands here as well as in the
 * install fragments under sql/install/; the upgrade test
 * (test/t/... and `make test`) checks that an upgraded 0.1.0 database and a
 * fresh 0.2.0 install end up with the same schema.  Sections are kept per
 * concern (one per issue) so that parallel work merges cleanly.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION paycons UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- issue 14: channels
--
-- Channel protocols for paycons.apply_notification() (Alipay, WeChat Pay
-- v3, Stripe, Adyen, generic HMAC): the protocol columns of
-- paycons.channels, the keys table, set_channel with its new trailing
-- parameters (dropped and created again: its signature changes), the key
-- functions and apply_notification, granted to application roles by
-- grant_app_role.  Also issue 10 item 5: body_format/body_fields bind a
-- signed body's facts for apply_callback.  As in sql/install/50_callbacks.sql,
-- 55_channels.sql and 90_privileges.sql.

ALTER TABLE paycons.channels
    ADD COLUMN protocol text NOT NULL DEFAULT 'hmac'
        CONSTRAINT channels_protocol_valid
        CHECK (protocol IN ('hmac', 'alipay', 'wechatpay_v3', 'stripe', 'adyen')),
    ADD COLUMN ack_status integer NOT NULL DEFAULT 200
        CONSTRAINT channels_ack_status_valid CHECK (ack_status BETWEEN 100 AND 599),
    ADD COLUMN nack_status integer NOT NULL DEFAULT 400
        CONSTRAINT channels_nack_status_valid CHECK (nack_status BETWEEN 100 AND 599),
    ADD COLUMN body_format text
        CONSTRAINT channels_body_format_valid CHECK (body_format IN ('json', 'form')),
    ADD COLUMN body_fields jsonb,
    ADD COLUMN signature_header text
        CONSTRAINT channels_signature_header_valid
        CHECK (octet_length(signature_header) BETWEEN 1 AND 200),
    ADD COLUMN default_currency text
        CONSTRAINT channels_default_currency_valid CHECK (default_currency ~ '^[A-Z]{3}$'),
    ADD COLUMN merchant_id text
        CONSTRAINT channels_merchant_id_valid CHECK (octet_length(merchant_id) BETWEEN 1 AND 128),
    ADD CONSTRAINT channels_body_fields_with_format CHECK ((body_format IS NULL) = (body_fields IS NULL));
COMMENT ON COLUMN paycons.channels.protocol IS
    'how apply_notification verifies and reads this channel''s webhooks: hmac, alipay, wechatpay_v3, stripe or adyen';
COMMENT ON COLUMN paycons.channels.ack_status IS 'HTTP status apply_notification answers a notification it took (or ignored) with';
COMMENT ON COLUMN paycons.channels.nack_status IS 'HTTP status apply_notification answers a bad_signature with (body: nack)';
COMMENT ON COLUMN paycons.channels.body_format IS
    'json or form: the signed body states the facts in the fields body_fields names (apply_callback checks them; the hmac protocol reads them)';
COMMENT ON COLUMN paycons.channels.body_fields IS
    'fact name (channel_txn_id, order_id, kind, status, amount, currency) -> field of the signed body';
COMMENT ON COLUMN paycons.channels.signature_header IS 'hmac protocol: the request header carrying the signature (NULL: X-Signature)';
COMMENT ON COLUMN paycons.channels.default_currency IS 'currency of notifications that state none (Alipay, WeChat Pay refunds)';
COMMENT ON COLUMN paycons.channels.merchant_id IS
    'if set, a notification must name this merchant account (Alipay app_id, WeChat Pay mchid, Adyen merchantAccountCode, Stripe account)';

DROP FUNCTION paycons.set_channel(text, text, boolean, text, interval, text, text);
CREATE FUNCTION paycons.set_channel(
    channel text,
    secret text DEFAULT NULL,
    require_signature boolean DEFAULT NULL,
    signature_format text DEFAULT NULL,
    tolerance interval DEFAULT NULL,
    ack text DEFAULT NULL,
    nack text DEFAULT NULL,
    protocol text DEFAULT NULL,
    ack_status integer DEFAULT NULL,
    nack_status integer DEFAULT NULL,
    body_format text DEFAULT NULL,
    body_fields jsonb DEFAULT NULL,
    signature_header text DEFAULT NULL,
    default_currency text DEFAULT NULL,
    merchant_id text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    preset boolean := set_channel.protocol IS NOT NULL;
    p_ack text;
    p_nack text;
    p_ack_status integer;
    p_nack_status integer;
    p_tolerance interval := '5 minutes';
    p_currency text;
    clear_body boolean := set_channel.body_format IS NOT DISTINCT FROM 'none';
    fact text;
    failed_constraint text;
BEGIN
    IF set_channel.channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    -- the rules apply_callback applies to a channel name
    IF octet_length(set_channel.channel) NOT BETWEEN 1 AND 64
       OR set_channel.channel OPERATOR(pg_catalog.~) '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION 'invalid channel name "%"', set_channel.channel
            USING ERRCODE = 'PC105',
                  DETAIL = 'A channel name has 1 to 64 bytes and no control characters.';
    END IF;
    IF set_channel.signature_format IS NOT NULL
       AND set_channel.signature_format <> ALL (ARRAY['hex', 'base64', 'header']) THEN
        RAISE EXCEPTION 'unknown signature format "%"', set_channel.signature_format
            USING ERRCODE = 'PC105', HINT = 'Use hex, base64 or header.';
    END IF;
    IF set_channel.tolerance IS NOT NULL AND set_channel.tolerance <= '0'::interval THEN
        RAISE EXCEPTION 'signature tolerance must be positive: "%"', set_channel.tolerance
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.secret = '' THEN
        RAISE EXCEPTION 'the secret of channel "%" must not be empty', set_channel.channel
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.protocol IS NOT NULL
       AND set_channel.protocol <> ALL (ARRAY['hmac', 'alipay', 'wechatpay_v3', 'stripe', 'adyen']) THEN
        RAISE EXCEPTION 'unknown channel protocol "%"', set_channel.protocol
            USING ERRCODE = 'PC105', HINT = 'Use hmac, alipay, wechatpay_v3, stripe or adyen.';
    END IF;
    IF set_channel.ack_status NOT BETWEEN 100 AND 599 OR set_channel.nack_status NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'invalid HTTP status for channel "%": %', set_channel.channel,
            COALESCE(set_channel.ack_status, set_channel.nack_status)
            USING ERRCODE = 'PC105', DETAIL = 'An HTTP status is between 100 and 599.';
    END IF;
    IF set_channel.body_format IS NOT NULL AND NOT clear_body
       AND set_channel.body_format <> ALL (ARRAY['json', 'form']) THEN
        RAISE EXCEPTION 'unknown body format "%"', set_channel.body_format
            USING ERRCODE = 'PC105', HINT = 'Use json or form (or none to remove the body format).';
    END IF;
    IF (set_channel.body_format IS NULL) <> (set_channel.body_fields IS NULL) AND NOT clear_body THEN
        RAISE EXCEPTION 'body_format and body_fields of channel "%" are set together', set_channel.channel
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.body_fields IS NOT NULL THEN
        IF pg_catalog.jsonb_typeof(set_channel.body_fields) <> 'object' THEN
            RAISE EXCEPTION 'body_fields of channel "%" must be a JSON object', set_channel.channel
                USING ERRCODE = 'PC105';
        END IF;
        FOR fact IN SELECT k FROM pg_catalog.jsonb_object_keys(set_channel.body_fields) AS k LOOP
            IF fact <> ALL (ARRAY['channel_txn_id', 'order_id', 'kind', 'status', 'amount', 'currency']) THEN
                RAISE EXCEPTION 'unknown fact "%" in body_fields of channel "%"', fact, set_channel.channel
                    USING ERRCODE = 'PC105',
                          HINT = 'The facts are channel_txn_id, order_id, kind, status, amount and currency.';
            END IF;
            IF pg_catalog.jsonb_typeof(set_channel.body_fields -> fact) <> 'string'
               OR set_channel.body_fields ->> fact = '' THEN
                RAISE EXCEPTION 'body_fields of channel "%" must name a field for "%"', set_channel.channel, fact
                    USING ERRCODE = 'PC105';
            END IF;
        END LOOP;
        FOREACH fact IN ARRAY ARRAY['channel_txn_id', 'order_id', 'amount', 'currency'] LOOP
            IF NOT set_channel.body_fields ? fact THEN
                RAISE EXCEPTION 'body_fields of channel "%" must name the field of "%"', set_channel.channel, fact
                    USING ERRCODE = 'PC105',
                          DETAIL = 'A signed body binds at least the transaction id, order id, amount and currency.';
            END IF;
        END LOOP;
    END IF;
    IF set_channel.signature_header IS NOT NULL
       AND octet_length(set_channel.signature_header) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'invalid signature header name "%"', set_channel.signature_header
            USING ERRCODE = 'PC105';
    END IF;
    IF set_channel.default_currency IS NOT NULL
       AND set_channel.default_currency OPERATOR(pg_catalog.!~) '^[A-Z]{3}$' THEN
        RAISE EXCEPTION 'invalid default currency "%"', set_channel.default_currency
            USING ERRCODE = 'PC105', HINT = 'Use an ISO 4217 code of three upper-case letters.';
    END IF;
    IF set_channel.merchant_id IS NOT NULL
       AND octet_length(set_channel.merchant_id) NOT BETWEEN 1 AND 128 THEN
        RAISE EXCEPTION 'invalid merchant id "%"', set_channel.merchant_id
            USING ERRCODE = 'PC105';
    END IF;

    -- presets: what each protocol's channel expects back (doc/channels.md)
    IF set_channel.protocol = 'alipay' THEN
        p_ack := 'success'; p_ack_status := 200; p_nack := 'fail'; p_nack_status := 200;
        p_currency := 'CNY';
    ELSIF set_channel.protocol = 'wechatpay_v3' THEN
        p_ack := ''; p_ack_status := 204;
        p_nack := '{"code":"FAIL","message":"signature verification failed"}'; p_nack_status := 401;
        p_currency := 'CNY';
    ELSIF set_channel.protocol = 'stripe' THEN
        p_ack := ''; p_ack_status := 200; p_nack := NULL; p_nack_status := 400;
    ELSIF set_channel.protocol = 'adyen' THEN
        p_ack := '[accepted]'; p_ack_status := 200; p_nack := NULL; p_nack_status := 401;
    ELSE
        p_ack := ''; p_ack_status := 200; p_nack := NULL; p_nack_status := 400;
    END IF;

    BEGIN
        INSERT INTO paycons.channels AS c (channel, secret, require_signature, signature_format,
                                           tolerance, ack, nack, protocol, ack_status, nack_status,
                                           body_format, body_fields, signature_header,
                                           default_currency, merchant_id)
        VALUES (set_channel.channel,
                convert_to(set_channel.secret, 'UTF8'),
                COALESCE(set_channel.require_signature, false),
                COALESCE(set_channel.signature_format, 'hex'),
                COALESCE(set_channel.tolerance, p_tolerance),
                COALESCE(set_channel.ack, p_ack),
                COALESCE(set_channel.nack, p_nack),
                COALESCE(set_channel.protocol, 'hmac'),
                COALESCE(set_channel.ack_status, p_ack_status),
                COALESCE(set_channel.nack_status, p_nack_status),
                CASE WHEN NOT clear_body THEN set_channel.body_format END,
                CASE WHEN NOT clear_body THEN set_channel.body_fields END,
                set_channel.signature_header,
                COALESCE(set_channel.default_currency, p_currency),
                set_channel.merchant_id)
        ON CONFLICT ON CONSTRAINT channels_pkey DO UPDATE
           SET secret = COALESCE(EXCLUDED.secret, c.secret),
               require_signature = COALESCE(set_channel.require_signature, c.require_signature),
               signature_format = COALESCE(set_channel.signature_format, c.signature_format),
               tolerance = COALESCE(set_channel.tolerance,
                                    CASE WHEN preset THEN p_tolerance END, c.tolerance),
               ack = COALESCE(set_channel.ack, CASE WHEN preset THEN p_ack END, c.ack),
               nack = CASE WHEN preset THEN COALESCE(set_channel.nack, p_nack)
                           ELSE COALESCE(set_channel.nack, c.nack) END,
               protocol = COALESCE(set_channel.protocol, c.protocol),
               ack_status = COALESCE(set_channel.ack_status,
                                     CASE WHEN preset THEN p_ack_status END, c.ack_status),
               nack_status = COALESCE(set_channel.nack_status,
                                      CASE WHEN preset THEN p_nack_status END, c.nack_status),
               body_format = CASE WHEN clear_body THEN NULL
                                  ELSE COALESCE(set_channel.body_format, c.body_format) END,
               body_fields = CASE WHEN clear_body THEN NULL
                                  ELSE COALESCE(set_channel.body_fields, c.body_fields) END,
               signature_header = COALESCE(set_channel.signature_header, c.signature_header),
               default_currency = CASE WHEN preset THEN COALESCE(set_channel.default_currency, p_currency)
                                       ELSE COALESCE(set_channel.default_currency, c.default_currency) END,
               merchant_id = COALESCE(set_channel.merchant_id, c.merchant_id),
               updated_at = now();
    EXCEPTION
        WHEN check_violation THEN
            GET STACKED DIAGNOSTICS failed_constraint = CONSTRAINT_NAME;
            IF failed_constraint = 'channels_secret_when_required' THEN
                RAISE EXCEPTION 'channel "%" cannot require signatures without a secret', set_channel.channel
                    USING ERRCODE = 'PC105', HINT = 'Pass the secret in the same call.';
            END IF;
            RAISE EXCEPTION 'invalid settings for channel "%": % is violated', set_channel.channel,
                failed_constraint
                USING ERRCODE = 'PC105';
    END;
END;
$$;
COMMENT ON FUNCTION paycons.set_channel(text, text, boolean, text, interval, text, text, text, integer, integer, text, jsonb, text, text, text) IS
    'create or change a payment channel''s settings (owner only); NULL arguments keep the current value; protocol => fills in that channel''s ack, nack, HTTP statuses, tolerance and default currency (explicit arguments win)';
REVOKE EXECUTE ON FUNCTION
    paycons.set_channel(text, text, boolean, text, interval, text, text, text, integer, integer, text, jsonb, text, text, text)
FROM PUBLIC;

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

REVOKE ALL ON TABLE paycons.channel_keys FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    paycons.channel_key_decode(text, text),
    paycons.set_channel_key(text, text, text, text),
    paycons.retire_channel_key(text, text),
    paycons.apply_notification(text, text, jsonb)
FROM PUBLIC;

CREATE OR REPLACE FUNCTION paycons.grant_app_role(role regrole) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY[
        'paycons.create_order(text, bigint, text, interval, jsonb)',
        'paycons.begin_payment(text, text)',
        'paycons.transition(text, paycons.order_state, text)',
        -- callbacks (keep each section apart so parallel edits merge)
        'paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text)',
        'paycons.apply_notification(text, text, jsonb)',

        -- end callbacks
        -- outbox
        'paycons.emit(text, text, text, jsonb, jsonb, timestamptz)',
        'paycons.outbox_claim(text, integer, interval)',
        'paycons.outbox_ack(bigint[], text)',
        'paycons.outbox_nack(bigint, text, interval, text)',
        'paycons.outbox_trigger()',
        -- end outbox
        -- compensations and maintenance
        'paycons.enqueue_compensation(text, text, regprocedure, jsonb)',
        'paycons.complete_compensation(bigint, boolean, text)',
        'paycons.complete_refund_for(text, bigint, text, text)',
        'paycons.add_stock(text, bigint)',
        'paycons.reserve_stock(text, jsonb)',
        'paycons.commit_stock(text)',
        'paycons.release_stock(text, jsonb)',
        'paycons.wake()',

        -- end compensations
        'paycons.can_transition(paycons.order_state, paycons.order_state)'
    ]
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', fn, role);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION paycons.grant_app_role(regrole) IS
    'grant an application role EXECUTE on the paycons application API (and nothing on the tables)';
-- end issue 14: channels
