/*
 * The floor: trigger-less copies of the tables (same columns, same
 * indexes), written by one data-modifying CTE per callback
 * (new_floor.sql, replay_floor.sql).
 */
CREATE SCHEMA IF NOT EXISTS paycons_bench;
CREATE TABLE paycons_bench.orders (LIKE paycons.orders INCLUDING ALL);
CREATE TABLE paycons_bench.order_history (LIKE paycons.order_history INCLUDING ALL);
CREATE TABLE paycons_bench.outbox (LIKE paycons.outbox INCLUDING ALL);
CREATE TABLE paycons_bench.callbacks (LIKE paycons.callbacks INCLUDING ALL);
