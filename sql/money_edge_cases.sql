--
-- money_edge_cases: the three money defects of issue 12 ("every cent
-- accounted"), fixed: every cent in is applied, refunded, or waiting in
-- review, and no order is stuck.
--
--   1. a late payment in another currency on a closed or cancelled order:
--      the order stays as it is, the refund compensation in that currency
--      gives the money back, its refund callback completes it;
--   2. an order sent to review by an over-refund: refund and accept are
--      refused with what the channel returned, close ends the review;
--   3. a review refund after an over-refund: what the channel returned
--      already is never asked for again.
--
-- With replays, wrong currencies and amounts, bad input, and verify()
-- finding nothing at the end.  In a database of its own, as verify.sql
-- (other regress tests tamper with their rows on purpose).
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS paycons_money_edges;
CREATE DATABASE paycons_money_edges;
\c paycons_money_edges
SET client_min_messages = warning; CREATE EXTENSION paycons; RESET client_min_messages;

SELECT paycons.set_channel('me', ack => 'success');

CREATE FUNCTION pg_temp.cb(p_txn text, p_ord text, p_amt bigint, p_cur text DEFAULT 'CNY',
                           p_kind text DEFAULT 'payment')
RETURNS TABLE (outcome text, state paycons.order_state, duplicate bool)
LANGUAGE sql AS $$
    SELECT outcome, state, duplicate
      FROM paycons.apply_callback('me', p_txn, p_ord, p_kind, 'success', p_amt, p_cur)
$$;

-- an order's money: state, amounts, and its refund compensations
CREATE VIEW pg_temp.books AS
SELECT o.order_id, o.state, o.paid_amount AS paid, o.refunded_amount AS refunded,
       (SELECT string_agg(k.action || ' ' || k.state || ' ' || (k.args->>'amount') || ' ' || (k.args->>'currency'),
                          ', ' ORDER BY k.id)
          FROM paycons.compensations k
         WHERE k.order_id = o.order_id AND k.action LIKE 'refund:%') AS refunds
  FROM paycons.orders o;

-- the states an order went through
CREATE VIEW pg_temp.path AS
SELECT h.order_id, string_agg(h.to_state::text, ' > ' ORDER BY h.id) AS states
  FROM paycons.order_history h GROUP BY 1;

SELECT count(*) FROM (
    SELECT paycons.create_order(id, 1000, 'CNY')
      FROM unnest(ARRAY['me-late', 'me-closed', 'me-legacy', 'me-legacy-done', 'me-over',
                        'me-over-refunding', 'me-over-topup', 'me-twice', 'me-part', 'me-after',
                        'me-mixed', 'me-rest', 'me-hostile']) AS id) s;
SELECT count(*) FROM (
    SELECT paycons.begin_payment(id, 'me')
      FROM unnest(ARRAY['me-closed', 'me-over', 'me-over-refunding', 'me-over-topup',
                        'me-twice', 'me-part', 'me-after', 'me-mixed', 'me-rest',
                        'me-hostile']) AS id) s;

---------------------------------------------------------------------------
-- 1. late payment in another currency
---------------------------------------------------------------------------
SELECT state FROM paycons.transition('me-late', 'cancelled', 'customer left');
SELECT state FROM paycons.transition('me-closed', 'closed', 'gave up waiting');

-- the money goes back through its own refund; the order stays cancelled
SELECT * FROM pg_temp.cb('T-late-usd', 'me-late', 150, 'USD');
SELECT * FROM pg_temp.cb('T-late-usd', 'me-late', 150, 'USD');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-late';
SELECT event_type, payload->'args'->>'amount' AS amount, payload->'args'->>'currency' AS currency
  FROM paycons.outbox WHERE aggregate_id = 'me-late' AND event_type = 'refund.request';
-- (its channel_txn_id is not the order's payment: the order never took it)
SELECT channel, channel_txn_id FROM paycons.orders WHERE order_id = 'me-late';

-- refunds that are not that refund: another currency, another amount;
-- nothing is completed and the order does not move
SELECT * FROM pg_temp.cb('R-late-eur', 'me-late', 150, 'EUR', 'refund');
SELECT * FROM pg_temp.cb('R-late-usd-140', 'me-late', 140, 'USD', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-late';

-- zero and negative amounts are refused before anything is written
\set VERBOSITY sqlstate
SELECT * FROM pg_temp.cb('T-late-zero', 'me-late', 0, 'USD');
SELECT * FROM pg_temp.cb('T-late-neg', 'me-late', -150, 'USD');
SELECT * FROM pg_temp.cb('R-late-zero', 'me-late', 0, 'USD', 'refund');
\set VERBOSITY default
SELECT count(*) FROM paycons.callbacks WHERE channel_txn_id LIKE '%-zero' OR channel_txn_id LIKE '%-neg';

-- the refund of that amount and currency completes it; a replay changes nothing
SELECT * FROM pg_temp.cb('R-late-usd', 'me-late', 150, 'USD', 'refund');
SELECT * FROM pg_temp.cb('R-late-usd', 'me-late', 150, 'USD', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-late';
SELECT order_id, states FROM pg_temp.path WHERE order_id = 'me-late';

-- a closed order: foreign money first, then money of its currency, which
-- still takes it to refunding and, once refunded, to refunded
SELECT * FROM pg_temp.cb('T-closed-usd', 'me-closed', 20, 'USD');
SELECT * FROM pg_temp.cb('T-closed-cny', 'me-closed', 1000, 'CNY');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-closed';
-- the refund sweep asks about refunding orders only
SET paycons.refund_stuck_after = 0;
SELECT (paycons.run_maintenance())->'refund_queries' AS refund_queries;
RESET paycons.refund_stuck_after;
SELECT aggregate_id, event_type FROM paycons.outbox WHERE event_type = 'refund.query' ORDER BY 1;
SELECT * FROM pg_temp.cb('R-closed-cny', 'me-closed', 1000, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-closed-usd', 'me-closed', 20, 'USD', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-closed';
SELECT order_id, states FROM pg_temp.path WHERE order_id = 'me-closed';

-- an order the library before issue 12 left refunding for foreign late
-- money (the old edge is written here by hand, as that library wrote it):
-- the refund in that currency, when it comes, ends it refunded
SELECT state FROM paycons.transition('me-legacy', 'cancelled', 'customer left');
SELECT * FROM pg_temp.cb('T-legacy-usd', 'me-legacy', 150, 'USD');
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE paycons.orders SET state = 'refunding', state_changed_at = now() WHERE order_id = 'me-legacy';
INSERT INTO paycons.order_history (order_id, from_state, to_state, reason)
VALUES ('me-legacy', 'cancelled', 'refunding', 'callback me T-legacy-usd');
SELECT paycons.emit('order', 'me-legacy', 'order.refunding', '{}') > 0 AS emitted;
COMMIT;
SELECT * FROM pg_temp.cb('R-legacy-usd', 'me-legacy', 150, 'USD', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-legacy';
SELECT order_id, states FROM pg_temp.path WHERE order_id = 'me-legacy';
-- one whose refund had come already stays refunding (verify() reports
-- it); the owner ends it with a forced edge and a reason
SELECT state FROM paycons.transition('me-legacy-done', 'cancelled', 'customer left');
SELECT * FROM pg_temp.cb('T-legacy-done', 'me-legacy-done', 150, 'USD');
SELECT * FROM pg_temp.cb('R-legacy-done', 'me-legacy-done', 150, 'USD', 'refund');
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE paycons.orders SET state = 'refunding', state_changed_at = now() WHERE order_id = 'me-legacy-done';
INSERT INTO paycons.order_history (order_id, from_state, to_state, reason)
VALUES ('me-legacy-done', 'cancelled', 'refunding', 'callback me T-legacy-done');
SELECT paycons.emit('order', 'me-legacy-done', 'order.refunding', '{}') > 0 AS emitted;
COMMIT;
SELECT invariant, key FROM paycons.verify();
SELECT state FROM paycons.transition('me-legacy-done', 'refunded',
                                     'foreign late payment refunded before issue 12');
SELECT to_state, forced, reason FROM paycons.order_history
 WHERE order_id = 'me-legacy-done' AND to_state::text = 'refunded';

---------------------------------------------------------------------------
-- 2. an order in review by an over-refund
---------------------------------------------------------------------------
SELECT * FROM pg_temp.cb('T-over', 'me-over', 1000);
SELECT * FROM pg_temp.cb('R-over', 'me-over', 1500, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-over', 'me-over', 1500, 'CNY', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-over';
-- nothing to accept, nothing to give back: refused, saying so
\set VERBOSITY sqlstate
SELECT paycons.resolve_review('me-over', 'refund', 'give it back');
\set VERBOSITY default
SELECT paycons.resolve_review('me-over', 'accept', 'keep it');
SELECT paycons.resolve_review('me-over', 'accept_and_refund', 'keep what covers it');
SELECT paycons.resolve_review('me-over', 'refund', 'give it back');
SELECT paycons.resolve_review('me-over', 'close', NULL);
SELECT paycons.resolve_review('me-over', 'close', '');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-over';
-- close: the loss is accepted with a reason; all the money is back with
-- the payer, so the order ends refunded
SELECT order_id, state, paid_amount, refunded_amount
  FROM paycons.resolve_review('me-over', 'close', 'channel refunded 500 too many; written off');
SELECT from_state, to_state, reason, forced FROM paycons.order_history
 WHERE order_id = 'me-over' AND from_state::text IN ('needs_review', 'refunding') ORDER BY id;
SELECT event_type FROM paycons.outbox WHERE aggregate_id = 'me-over' ORDER BY id;
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-over';
-- decided once: a second decision finds it out of review
SELECT paycons.resolve_review('me-over', 'close', 'again');
-- a later refund notice of that money is recorded, the order stays refunded
SELECT * FROM pg_temp.cb('R-over-2', 'me-over', 100, 'CNY', 'refund');

-- an order that was refunding
SELECT * FROM pg_temp.cb('T-over-refunding', 'me-over-refunding', 1000);
SELECT state FROM paycons.transition('me-over-refunding', 'refunding', 'customer asked');
SELECT * FROM pg_temp.cb('R-over-refunding', 'me-over-refunding', 1200, 'CNY', 'refund');
SELECT order_id, state FROM paycons.resolve_review('me-over-refunding', 'close', 'over-refunded by 200');
SELECT order_id, states FROM pg_temp.path WHERE order_id = 'me-over-refunding';

-- money that makes up for the over-refund can still be accepted
SELECT * FROM pg_temp.cb('T-over-topup-1', 'me-over-topup', 1000);
SELECT * FROM pg_temp.cb('R-over-topup', 'me-over-topup', 1500, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('T-over-topup-2', 'me-over-topup', 1400);
SELECT paycons.resolve_review('me-over-topup', 'accept', 'paid back 1400');
SELECT paycons.resolve_review('me-over-topup', 'close', 'a payment waits');
SELECT * FROM pg_temp.cb('T-over-topup-3', 'me-over-topup', 100);
SELECT order_id, state, paid_amount, refunded_amount
  FROM paycons.resolve_review('me-over-topup', 'accept', 'paid back 1500');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-over-topup';

---------------------------------------------------------------------------
-- 3. review refund after an over-refund
---------------------------------------------------------------------------
-- a short payment of 997, then the channel's refund of 1000
SELECT * FROM pg_temp.cb('T-twice', 'me-twice', 997);
SELECT * FROM pg_temp.cb('T-twice', 'me-twice', 997);
SELECT * FROM pg_temp.cb('R-twice', 'me-twice', 1000, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-twice', 'me-twice', 1000, 'CNY', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-twice';
SELECT paycons.resolve_review('me-twice', 'accept', 'short but fine');
SELECT paycons.resolve_review('me-twice', 'close', 'nothing to do');
-- refund: the 997 are back already; recorded as returned, nothing asked
SELECT order_id, state, paid_amount, refunded_amount
  FROM paycons.resolve_review('me-twice', 'refund', 'give it back');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-twice';
SELECT detail FROM paycons.compensations WHERE order_id = 'me-twice';
SELECT count(*) AS refund_requests FROM paycons.outbox
 WHERE aggregate_id = 'me-twice' AND event_type = 'refund.request';
SELECT review FROM paycons.callbacks WHERE channel_txn_id = 'T-twice';
SELECT order_id, states FROM pg_temp.path WHERE order_id = 'me-twice';

-- the channel returned part of it: only the rest is asked for, and its
-- refund completes the compensation and ends the order refunded
SELECT * FROM pg_temp.cb('T-part', 'me-part', 800);
SELECT * FROM pg_temp.cb('R-part-1', 'me-part', 500, 'CNY', 'refund');
SELECT order_id, state, paid_amount, refunded_amount
  FROM paycons.resolve_review('me-part', 'refund', 'give the rest back');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-part';
SELECT payload->'args'->>'amount' AS asked FROM paycons.outbox
 WHERE aggregate_id = 'me-part' AND event_type = 'refund.request';
SELECT * FROM pg_temp.cb('R-part-2', 'me-part', 300, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-part-2', 'me-part', 300, 'CNY', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-part';

-- the other order of events: the review refunds first, then the channel's
-- own refund of 1000 arrives; the next decision settles the refund asked
-- for, which is never asked again, even if its refund then comes too
SELECT * FROM pg_temp.cb('T-after', 'me-after', 997);
SELECT order_id, state FROM paycons.resolve_review('me-after', 'refund', 'short payment');
SELECT * FROM pg_temp.cb('R-after', 'me-after', 1000, 'CNY', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-after';
SELECT paycons.resolve_review('me-after', 'refund', 'again');
SELECT order_id, state FROM paycons.resolve_review('me-after', 'close', 'the channel returned 3 too many');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-after';
SELECT (paycons.run_maintenance())->'external_sent' AS resent;
SELECT count(*) AS refund_requests FROM paycons.outbox
 WHERE aggregate_id = 'me-after' AND event_type = 'refund.request';
SELECT * FROM pg_temp.cb('R-after-997', 'me-after', 997, 'CNY', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-after';
SELECT order_id, states FROM pg_temp.path WHERE order_id = 'me-after';

-- pending money in two currencies: the order's currency is back already,
-- the foreign one is refunded in its currency
SELECT * FROM pg_temp.cb('T-mixed-cny', 'me-mixed', 997);
SELECT * FROM pg_temp.cb('T-mixed-usd', 'me-mixed', 20, 'USD');
SELECT * FROM pg_temp.cb('R-mixed', 'me-mixed', 1000, 'CNY', 'refund');
SELECT order_id, state FROM paycons.resolve_review('me-mixed', 'refund', 'all of it back');
SELECT * FROM pg_temp.cb('R-mixed-usd', 'me-mixed', 20, 'USD', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-mixed';

-- an open refund covered in part: a duplicate payment's refund of 1000 is
-- open when the channel has already returned 1500 of the 2000 paid; only
-- 500 is still owed, so the refund is settled and its rest asked for
SELECT * FROM pg_temp.cb('T-rest-1', 'me-rest', 1000);
SELECT * FROM pg_temp.cb('T-rest-2', 'me-rest', 1000);
SELECT * FROM pg_temp.cb('R-rest-1', 'me-rest', 1500, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('R-rest-usd', 'me-rest', 5, 'USD', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-rest';
SELECT paycons.resolve_review('me-rest', 'accept', 'keep the order');
SELECT order_id, state FROM paycons.resolve_review('me-rest', 'close', 'a stray refund in USD');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-rest';
SELECT action, detail FROM paycons.compensations WHERE order_id = 'me-rest' ORDER BY id;
SELECT payload->'args'->>'amount' AS asked FROM paycons.outbox
 WHERE aggregate_id = 'me-rest' AND event_type = 'refund.request' ORDER BY id;
SELECT * FROM pg_temp.cb('R-rest-2', 'me-rest', 500, 'CNY', 'refund');
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-rest';

---------------------------------------------------------------------------
-- a hostile caller: an operator role whose search_path puts its own
-- operators and functions ahead of pg_catalog decides a review that
-- settles an over-refund (an open refund completed, a pending payment
-- recorded as returned); none of its objects runs
---------------------------------------------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_me_hostile;
RESET client_min_messages;
CREATE ROLE regress_me_hostile;
SELECT paycons.grant_app_role('regress_me_hostile');
SELECT paycons.grant_operator_role('regress_me_hostile');
CREATE SCHEMA me_evil AUTHORIZATION regress_me_hostile;
SET ROLE regress_me_hostile;
CREATE TABLE me_evil.hits (what text);
GRANT INSERT ON me_evil.hits TO PUBLIC;
GRANT USAGE ON SCHEMA me_evil TO PUBLIC;
CREATE FUNCTION me_evil.hit(what text) RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO me_evil.hits VALUES (what || ' as ' || current_user);
    RAISE NOTICE 'HIJACKED: % ran as %', what, current_user;
END $$;
CREATE FUNCTION me_evil.teq(l text, r text) RETURNS boolean LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('text ='); RETURN l OPERATOR(pg_catalog.=) r; END $$;
CREATE FUNCTION me_evil.tlike(l text, r text) RETURNS boolean LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('text ~~'); RETURN l OPERATOR(pg_catalog.~~) r; END $$;
CREATE FUNCTION me_evil.tre(l text, r text) RETURNS boolean LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('text ~'); RETURN l OPERATOR(pg_catalog.~) r; END $$;
CREATE FUNCTION me_evil.tcat(l text, r text) RETURNS text LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('text ||'); RETURN l OPERATOR(pg_catalog.||) r; END $$;
CREATE FUNCTION me_evil.jget(l jsonb, r text) RETURNS text LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('jsonb ->>'); RETURN l OPERATOR(pg_catalog.->>) r; END $$;
CREATE FUNCTION me_evil.jobj(l jsonb, r text) RETURNS jsonb LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('jsonb ->'); RETURN l OPERATOR(pg_catalog.->) r; END $$;
CREATE FUNCTION me_evil.iadd(l bigint, r bigint) RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('bigint +'); RETURN l OPERATOR(pg_catalog.+) r; END $$;
CREATE FUNCTION me_evil.isub(l bigint, r bigint) RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('bigint -'); RETURN l OPERATOR(pg_catalog.-) r; END $$;
CREATE FUNCTION me_evil.now() RETURNS timestamptz LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION me_evil.jsonb_typeof(j jsonb) RETURNS text LANGUAGE plpgsql
    SET search_path = pg_catalog AS $$ BEGIN PERFORM me_evil.hit('jsonb_typeof()'); RETURN pg_catalog.jsonb_typeof(j); END $$;
CREATE OPERATOR me_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = me_evil.teq);
CREATE OPERATOR me_evil.~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = me_evil.tlike);
CREATE OPERATOR me_evil.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = me_evil.tre);
CREATE OPERATOR me_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = me_evil.tcat);
CREATE OPERATOR me_evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = me_evil.jget);
CREATE OPERATOR me_evil.-> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = me_evil.jobj);
CREATE OPERATOR me_evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = me_evil.iadd);
CREATE OPERATOR me_evil.- (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = me_evil.isub);
-- (the trap works: it fires for the hostile role's own query)
SET search_path = me_evil, pg_catalog, public;
SELECT 'a' = 'a' AS trap_fires;
SELECT count(*) AS hits_from_own_query FROM me_evil.hits;
DELETE FROM me_evil.hits;
RESET ROLE;
RESET search_path;
-- paid 2000 (a duplicate payment, its refund of 1000 open), then the
-- channel refunds 2500 (over_refund: review), then 300 more come
SELECT * FROM pg_temp.cb('T-hostile-1', 'me-hostile', 1000);
SELECT * FROM pg_temp.cb('T-hostile-2', 'me-hostile', 1000);
SELECT * FROM pg_temp.cb('R-hostile', 'me-hostile', 2500, 'CNY', 'refund');
SELECT * FROM pg_temp.cb('T-hostile-3', 'me-hostile', 300);
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-hostile';
SET ROLE regress_me_hostile;
SET search_path = me_evil, pg_catalog, public;
-- oversize and NULL input is refused before anything is written
SELECT paycons.resolve_review('me-hostile', 'refund', repeat('x', 1025));
SELECT paycons.resolve_review('me-hostile', NULL, 'no decision');
SELECT paycons.resolve_review(NULL, 'refund', 'no order');
-- the decision: 1000 of the 1500 returned already settle the open refund,
-- 300 the pending payment (recorded as returned), 200 are the loss
SELECT order_id, state, paid_amount, refunded_amount
  FROM paycons.resolve_review('me-hostile', 'refund', 'hostile operator gives it back');
-- a replay of the decision finds the order out of review
\set VERBOSITY sqlstate
SELECT paycons.resolve_review('me-hostile', 'refund', 'hostile operator gives it back');
\set VERBOSITY default
RESET ROLE;
RESET search_path;
SELECT count(*) AS hits FROM me_evil.hits;
SELECT order_id, state, paid, refunded, refunds FROM pg_temp.books WHERE order_id = 'me-hostile';
SELECT count(*) AS refund_requests FROM paycons.outbox
 WHERE aggregate_id = 'me-hostile' AND event_type = 'refund.request';
SELECT action, run_as::text FROM paycons.compensations WHERE order_id = 'me-hostile' ORDER BY id;
SET client_min_messages = warning;
DROP SCHEMA me_evil CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_me_hostile;

---------------------------------------------------------------------------
-- every cent accounted: verify() finds nothing, no order is stuck
---------------------------------------------------------------------------
SELECT * FROM paycons.verify();
SELECT * FROM paycons.verify(now() - interval '1 hour');
SELECT order_id, state FROM paycons.orders
 WHERE state::text IN ('refunding', 'needs_review') ORDER BY 1;
SELECT order_id, action, state FROM paycons.compensations
 WHERE state <> 'done' ORDER BY 1, 2;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE paycons_money_edges;
DROP ROLE regress_me_hostile;
RESET client_min_messages;
