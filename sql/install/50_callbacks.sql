/*
 * 50_callbacks.sql -- payment channel callbacks: the inbox, the conflicts
 * kept for review, the per-channel settings (signing secret, ack text), and
 * paycons.apply_callback().  See doc/callbacks.md.
 */

CREATE TABLE paycons.channels (
    channel                   text PRIMARY KEY
                              CONSTRAINT channels_channel_length CHECK (octet_length(channel) BETWEEN 1 AND 64),
    secret                    bytea,
    require_signature         boolean NOT NULL DEFAULT false,
    signature_format          text NOT NULL DEFAULT 'hex'
                              CONSTRAINT channels_signature_format_valid
                              CHECK (signature_format IN ('hex', 'base64', 'header')),
    tolerance                 interval NOT NULL DEFAULT '5 minutes'
                              CONSTRAINT channels_tolerance_positive CHECK (tolerance > '0'::interval),
    ack                       text NOT NULL DEFAULT '',
    nack                      text,
    bad_signatures            bigint NOT NULL DEFAULT 0,
    last_bad_signature_at     timestamptz,
    last_bad_signature_reason text,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    -- issue 14: channel protocols for apply_notification (see 55_channels.sql)
    protocol                  text NOT NULL DEFAULT 'hmac'
                              CONSTRAINT channels_protocol_valid
                              CHECK (protocol IN ('hmac', 'alipay', 'wechatpay_v3', 'stripe', 'adyen')),
    ack_status                integer NOT NULL DEFAULT 200
                              CONSTRAINT channels_ack_status_valid CHECK (ack_status BETWEEN 100 AND 599),
    nack_status               integer NOT NULL DEFAULT 400
                              CONSTRAINT channels_nack_status_valid CHECK (nack_status BETWEEN 100 AND 599),
    body_format               text
                              CONSTRAINT channels_body_format_valid CHECK (body_format IN ('json', 'form')),
    body_fields               jsonb,
    signature_header          text
                              CONSTRAINT channels_signature_header_valid
                              CHECK (octet_length(signature_header) BETWEEN 1 AND 200),
    default_currency          text
                              CONSTRAINT channels_default_currency_valid CHECK (default_currency ~ '^[A-Z]{3}$'),
    merchant_id               text
                              CONSTRAINT channels_merchant_id_valid CHECK (octet_length(merchant_id) BETWEEN 1 AND 128),
    CONSTRAINT channels_secret_when_required CHECK (NOT require_signature OR secret IS NOT NULL),
    CONSTRAINT channels_body_fields_with_format CHECK ((body_format IS NULL) = (body_fields IS NULL))
);
COMMENT ON TABLE paycons.channels IS
    'per payment channel settings for apply_callback(); the secret is readable by the extension owner only';
COMMENT ON COLUMN paycons.channels.secret IS 'HMAC-SHA256 key (never granted to any other role)';
COMMENT ON COLUMN paycons.channels.signature_format IS
    'hex or base64: the digest of signed_body; header: t=<unix>,v1=<hex> over "<t>.<signed_body>"';
COMMENT ON COLUMN paycons.channels.tolerance IS 'header format: largest accepted distance between t and now';
COMMENT ON COLUMN paycons.channels.ack IS 'text the channel expects back for a callback it may stop retrying';
COMMENT ON COLUMN paycons.channels.nack IS 'text returned for a refused (bad_signature) callback; NULL means answer with an HTTP error';
COMMENT ON COLUMN paycons.channels.bad_signatures IS 'callbacks refused for a missing or bad signature';
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
SELECT pg_catalog.pg_extension_config_dump('paycons.channels', '');

CREATE TABLE paycons.callbacks (
    channel        text NOT NULL,
    channel_txn_id text NOT NULL,
    order_id       text NOT NULL,
    kind           text NOT NULL CONSTRAINT callbacks_kind_valid CHECK (kind IN ('payment', 'refund')),
    status         text NOT NULL CONSTRAINT callbacks_status_valid CHECK (status IN ('success', 'failed')),
    amount         bigint NOT NULL CONSTRAINT callbacks_amount_positive CHECK (amount > 0),
    currency       text NOT NULL,
    payload        jsonb,
    outcome        text NOT NULL,
    state          paycons.order_state,
    received_at    timestamptz NOT NULL DEFAULT now(),
    applied_at     timestamptz,
    source         text NOT NULL DEFAULT 'callback'
                   CONSTRAINT callbacks_source_valid CHECK (source IN ('callback', 'query', 'statement')),
    PRIMARY KEY (channel, channel_txn_id),
    review         text CONSTRAINT callbacks_review_valid CHECK (review IN ('pending', 'accepted', 'refunded')),
    reviewed_at    timestamptz
);
COMMENT ON TABLE paycons.callbacks IS
    'the callback inbox: one row per (channel, channel_txn_id), written by the first delivery, which decides the outcome';
COMMENT ON COLUMN paycons.callbacks.outcome IS 'what the first delivery decided; every replay returns it';
COMMENT ON COLUMN paycons.callbacks.state IS 'the order state the first delivery left (NULL for unknown_order)';
COMMENT ON COLUMN paycons.callbacks.applied_at IS 'when the callback changed the order (NULL if it changed nothing)';
COMMENT ON COLUMN paycons.callbacks.source IS 'callback (pushed by the channel), query (active query), statement (reconciliation)';
COMMENT ON COLUMN paycons.callbacks.review IS
    'money that did not match its order: pending until paycons.resolve_review() accepted or refunded it (NULL for other callbacks)';
COMMENT ON COLUMN paycons.callbacks.reviewed_at IS 'when resolve_review() decided about this money';
-- Only the callbacks somebody has to look at again are indexed by order:
-- the normal "applied" rows cost no second index entry.
CREATE INDEX callbacks_attention ON paycons.callbacks (order_id)
    WHERE outcome <> 'applied';
COMMENT ON INDEX paycons.callbacks_attention IS
    'callbacks to look at again (unknown orders, mismatches, late and duplicate money), by order';
CREATE INDEX callbacks_review_pending ON paycons.callbacks (order_id)
    WHERE review = 'pending';
COMMENT ON INDEX paycons.callbacks_review_pending IS
    'money waiting for a review decision, by order';
SELECT pg_catalog.pg_extension_config_dump('paycons.callbacks', '');

CREATE TABLE paycons.callback_conflicts (
    id             bigserial PRIMARY KEY,
    channel        text NOT NULL,
    channel_txn_id text NOT NULL,
    order_id       text NOT NULL,
    kind           text NOT NULL,
    status         text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    payload        jsonb,
    source         text NOT NULL,
    attempts       integer NOT NULL DEFAULT 1,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT callback_conflicts_facts
        UNIQUE (channel, channel_txn_id, order_id, kind, status, amount, currency)
);
COMMENT ON TABLE paycons.callback_conflicts IS
    'deliveries whose (channel, channel_txn_id) was first seen with other facts: nothing applied, kept for review';
SELECT pg_catalog.pg_extension_config_dump('paycons.callback_conflicts', '');
SELECT pg_catalog.pg_extension_config_dump('paycons.callback_conflicts_id_seq', '');

CREATE FUNCTION paycons.apply_callback(
    channel text,
    channel_txn_id text,
    order_id text,
    kind text,
    status text,
    amount bigint,
    currency text,
    payload jsonb DEFAULT NULL,
    signature text DEFAULT NULL,
    signed_body text DEFAULT NULL,
    source text DEFAULT 'callback',
    OUT outcome text,
    OUT state paycons.order_state,
    OUT duplicate boolean,
    OUT first_seen_at timestamptz,
    OUT ack text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'paycons_apply_callback'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.apply_callback(text, text, text, text, text, bigint, text, jsonb, text, text, text) IS
    'apply a payment or refund callback exactly once: the first delivery of (channel, channel_txn_id) decides, every replay returns the same outcome with duplicate = true';

CREATE FUNCTION paycons.resolve_review(order_id text, decision text, reason text)
    RETURNS paycons.orders
    AS 'MODULE_PATHNAME', 'paycons_resolve_review'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION paycons.resolve_review(text, text, text) IS
    'an operator''s decision about an order in needs_review: accept (its money covers it: paid), refund (give the money back), accept_and_refund (take what covers it, refund the rest) or close (nothing held); reason required';

CREATE FUNCTION paycons.hmac_sha256(key bytea, message bytea)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'paycons_hmac_sha256'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION paycons.hmac_sha256(bytea, bytea) IS
    'HMAC-SHA256 of message under key (PostgreSQL''s own implementation), as apply_callback computes it';

/*
 * Channel management: owner only (no EXECUTE for anyone else, and the
 * functions run as the caller, who must be able to write paycons.channels).
 * Arguments left NULL keep the current value (or the default for a new
 * channel).
 */
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

CREATE FUNCTION paycons.drop_channel(channel text)
    RETURNS boolean
    LANGUAGE sql VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
    WITH d AS (DELETE FROM paycons.channels c
                WHERE c.channel OPERATOR(pg_catalog.=) drop_channel.channel RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM d)
$$;
COMMENT ON FUNCTION paycons.drop_channel(text) IS
    'remove a channel''s settings (owner only); apply_callback() then refuses its callbacks (PC106)';
