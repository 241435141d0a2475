--
-- The guard trigger on a user's own table, and its misuse.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS paycons;
RESET client_min_messages;

CREATE TABLE shop_orders (
    no        bigint PRIMARY KEY,
    status    paycons.order_state NOT NULL DEFAULT 'created',
    note      text,
    state_changed_at timestamptz
);
CREATE TRIGGER shop_orders_guard BEFORE INSERT OR UPDATE ON shop_orders
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('status');
CREATE TRIGGER shop_orders_history AFTER INSERT OR UPDATE ON shop_orders
    FOR EACH ROW EXECUTE FUNCTION paycons.order_guard('status', 'no');

INSERT INTO shop_orders (no) VALUES (1), (2);
UPDATE shop_orders SET status = 'paying' WHERE no = 1;
UPDATE shop_orders SET status = 'paid' WHERE no = 1;
UPDATE shop_orders SET status = 'created' WHERE no = 1;
UPDATE shop_orders SET status = 'shipped' WHERE no = 2;
-- a multi-row update is all or nothing
UPDATE shop_orders SET status = 'cancelled';
SELECT no, status, state_changed_at IS NOT NULL AS stamped FROM shop_orders ORDER BY no;
UPDATE shop_orders SET note = 'no state change' WHERE no = 1;
INSERT INTO shop_orders (no, status) VALUES (3, 'refunded');
SELECT order_id, table_name, from_state, to_state
  FROM paycons.order_history WHERE table_name = 'public.shop_orders' ORDER BY id;

-- misuse is refused
CREATE TABLE misuse (id int, s paycons.order_state, t text);
INSERT INTO misuse VALUES (1, 'created', 'created');
CREATE TRIGGER m1 BEFORE UPDATE ON misuse FOR EACH STATEMENT
    EXECUTE FUNCTION paycons.order_guard('s');
UPDATE misuse SET s = 'paying';
DROP TRIGGER m1 ON misuse;
CREATE TRIGGER m2 BEFORE DELETE ON misuse FOR EACH ROW
    EXECUTE FUNCTION paycons.order_guard('s');
DELETE FROM misuse;
DROP TRIGGER m2 ON misuse;
CREATE TRIGGER m3 BEFORE UPDATE ON misuse FOR EACH ROW
    EXECUTE FUNCTION paycons.order_guard('nosuchcolumn');
UPDATE misuse SET s = 'paying';
DROP TRIGGER m3 ON misuse;
CREATE TRIGGER m4 BEFORE UPDATE ON misuse FOR EACH ROW
    EXECUTE FUNCTION paycons.order_guard('t');
UPDATE misuse SET s = 'paying';
DROP TRIGGER m4 ON misuse;
CREATE TRIGGER m5 BEFORE UPDATE ON misuse FOR EACH ROW
    EXECUTE FUNCTION paycons.order_guard('s', 'id', 'extra');
UPDATE misuse SET s = 'paying';
DROP TRIGGER m5 ON misuse;
CREATE TRIGGER m6 AFTER UPDATE ON misuse FOR EACH ROW
    EXECUTE FUNCTION paycons.order_guard('s', 'nosuchkey');
UPDATE misuse SET s = 'paying';
DROP TRIGGER m6 ON misuse;
CREATE VIEW misuse_v AS SELECT * FROM misuse;
CREATE TRIGGER m7 INSTEAD OF UPDATE ON misuse_v FOR EACH ROW
    EXECUTE FUNCTION paycons.order_guard('s');
UPDATE misuse_v SET s = 'paying';
SELECT paycons.order_guard();
-- nothing above changed the row
SELECT * FROM misuse;

DROP VIEW misuse_v;
DROP TABLE misuse, shop_orders;
