# Without the worker (paycons.enabled = off), pg_cron scheduling
# SELECT paycons.run_maintenance() does the same work: the same function is
# the one code path.  pg_cron 1.4 schedules by the minute, so this test
# waits for the next minute boundary (at most about a minute).  Jobs run in
# background workers: the TAP cluster listens on a Unix socket only.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons,pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
paycons.database = 'postgres'
paycons.enabled = off
paycons.naptime = '200ms'
paycons.stuck_grace = 0
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION paycons;
CREATE EXTENSION pg_cron;
SELECT paycons.add_stock('tap-sku', 10);
SELECT paycons.create_order('tap-cron', 100, 'USD', '1 millisecond');
SELECT paycons.reserve_stock('tap-cron', '[{"sku": "tap-sku", "quantity": 3}]');
SELECT paycons.begin_payment('tap-cron', 'tap-chan');
});
sleep 1;
is($node->safe_psql('postgres', 'SELECT passes FROM paycons.stats()'), '0',
	'the disabled worker runs no pass');
is($node->safe_psql('postgres', q{SELECT state FROM paycons.orders WHERE order_id = 'tap-cron'}),
	'paying', 'the stuck order waits');

$node->safe_psql('postgres',
	q{SELECT cron.schedule('paycons-maintenance', '* * * * *', 'SELECT paycons.run_maintenance()')});

ok($node->poll_query_until('postgres',
	q{SELECT state FROM paycons.orders WHERE order_id = 'tap-cron'}, 'closed'),
	'pg_cron run closes the stuck order');
ok($node->poll_query_until('postgres',
	q{SELECT reserved FROM paycons.stock WHERE sku = 'tap-sku'}, '0'),
	'and its stock is released (release_stock run in the same pass)');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded' AND command LIKE '%run_maintenance%'}),
	'the cron job succeeded');
ok($node->safe_psql('postgres', 'SELECT passes >= 1 FROM paycons.stats()') eq 't',
	'the pass is counted in paycons.stats()');

$node->stop;
done_testing();
