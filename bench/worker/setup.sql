-- bench/worker/setup.sql: a fresh paycons with a stuck-order fixture.
-- Variables: none.  Loads are done by load.sql.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS paycons CASCADE;
CREATE EXTENSION paycons;
RESET client_min_messages;
