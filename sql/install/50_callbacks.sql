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
    CONSTRAINT channels_secret_when_required CHECK (NOT require_signature OR secret IS NOT NULL)
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
    nack text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, paycons, pg_temp
AS $$
BEGIN
    IF set_channel.channel IS NULL THEN
        RAISE EXCEPTION 'channel must not be null' USING ERRCODE = '22004';
    END IF;
    IF octet_length(set_channel.channel) NOT BETWEEN 1 AND 64 THEN
        RAISE EXCEPTION 'invalid channel name "%"', set_channel.channel
            USING ERRCODE = 'PC105', DETAIL = 'A channel name has 1 to 64 bytes.';
    END IF;
    IF set_channel.signature_format IS NOT NULL
       AND set_channel.signature_format NOT IN ('hex', 'base64', 'header') THEN
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

    INSERT INTO paycons.channels AS c (channel, secret, require_signature, signature_format,
                                       tolerance, ack, nack)
    VALUES (set_channel.channel,
            convert_to(set_channel.secret, 'UTF8'),
            COALESCE(set_channel.require_signature, false),
            COALESCE(set_channel.signature_format, 'hex'),
            COALESCE(set_channel.tolerance, '5 minutes'),
            COALESCE(set_channel.ack, ''),
            set_channel.nack)
    ON CONFLICT ON CONSTRAINT channels_pkey DO UPDATE
       SET secret = COALESCE(EXCLUDED.secret, c.secret),
           require_signature = COALESCE(set_channel.require_signature, c.require_signature),
           signature_format = COALESCE(set_channel.signature_format, c.signature_format),
           tolerance = COALESCE(set_channel.tolerance, c.tolerance),
           ack = COALESCE(set_channel.ack, c.ack),
           nack = COALESCE(set_channel.nack, c.nack),
           updated_at = now();
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'channel "%" cannot require signatures without a secret', set_channel.channel
            USING ERRCODE = 'PC105', HINT = 'Pass the secret in the same call.';
END;
$$;
COMMENT ON FUNCTION paycons.set_channel(text, text, boolean, text, interval, text, text) IS
    'create or change a payment channel''s settings (owner only); NULL arguments keep the current value';

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
