# A paying order whose callback never comes: past pay_deadline the worker
# sends payment.query commands; past pay_deadline + paycons.stuck_grace it
# closes the order, and the release_stock compensation gives back its stock.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('stuck');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
paycons.stuck_grace = '3s'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION paycons;
SELECT paycons.set_retry_policy('payment.query', '1 second', 1.0, '1 second', 1000, 0, '{}');
SELECT paycons.add_stock('tap-sku', 10);
SELECT paycons.create_order('tap-stuck', 500, 'CNY', '1 second');
SELECT paycons.reserve_stock('tap-stuck', '[{"sku": "tap-sku", "quantity": 4}]');
SELECT paycons.begin_payment('tap-stuck', 'tap-chan');
SELECT paycons.create_order('tap-fine', 500, 'CNY', '1 hour');
SELECT paycons.reserve_stock('tap-fine', '[{"sku": "tap-sku", "quantity": 1}]');
SELECT paycons.begin_payment('tap-fine', 'tap-chan');
});
is($node->safe_psql('postgres', q{SELECT reserved FROM paycons.stock WHERE sku = 'tap-sku'}),
	'5', 'stock reserved');

ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM paycons.outbox WHERE aggregate_id = 'tap-stuck' AND event_type = 'payment.query'}),
	'payment.query sent after pay_deadline');
is($node->safe_psql('postgres', q{SELECT state FROM paycons.orders WHERE order_id = 'tap-stuck'}),
	'paying', 'still paying within the grace');
is($node->safe_psql('postgres',
	q{SELECT payload->>'channel' || '/' || (payload->>'amount') FROM paycons.outbox WHERE aggregate_id = 'tap-stuck' AND event_type = 'payment.query' ORDER BY id LIMIT 1}),
	'tap-chan/500', 'the query names the channel and the amount');

ok($node->poll_query_until('postgres',
	q{SELECT state FROM paycons.orders WHERE order_id = 'tap-stuck'}, 'closed'),
	'closed after deadline + grace');
ok($node->safe_psql('postgres',
	q{SELECT count(*) FROM paycons.outbox WHERE aggregate_id = 'tap-stuck' AND event_type = 'payment.query'}) >= 2,
	'payment.query repeated with backoff before the close');
ok($node->poll_query_until('postgres',
	q{SELECT state FROM paycons.compensations WHERE order_id = 'tap-stuck' AND action = 'release_stock'}, 'done'),
	'release_stock compensation done');
is($node->safe_psql('postgres', q{SELECT on_hand || '/' || reserved FROM paycons.stock WHERE sku = 'tap-sku'}),
	'10/1', 'its stock is released; the other order keeps its reservation');
is($node->safe_psql('postgres', q{SELECT state FROM paycons.orders WHERE order_id = 'tap-fine'}),
	'paying', 'an order within its deadline is left alone');
is($node->safe_psql('postgres',
	q{SELECT reason FROM paycons.order_history WHERE order_id = 'tap-stuck' AND to_state::text = 'closed'}),
	'paycons: no payment by pay_deadline + paycons.stuck_grace', 'history says why');

$node->stop;
done_testing();
