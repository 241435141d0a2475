# On a streaming standby the worker and the notifier do nothing (they are
# not even started before recovery ends; health says so); after promotion
# they start and the worker takes over the stuck orders the old primary
# left.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
paycons.stuck_grace = 0
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION paycons');
# the primary's worker stays out of the way from here on
$primary->append_conf('postgresql.conf', 'paycons.enabled = off');
$primary->reload;
ok($primary->poll_query_until('postgres', q{SELECT setting FROM pg_settings WHERE name = 'paycons.enabled'}, 'off'),
	'primary worker disabled');

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', 'paycons.enabled = on');
$standby->start;

$primary->safe_psql('postgres', q{
SELECT paycons.add_stock('tap-sku', 10);
SELECT paycons.create_order('tap-sb', 100, 'USD', '1 millisecond');
SELECT paycons.reserve_stock('tap-sb', '[{"sku": "tap-sku", "quantity": 2}]');
SELECT paycons.begin_payment('tap-sb', 'tap-chan');
});
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', q{SELECT pg_is_in_recovery()}), 't', 'standby in recovery');
sleep 1;
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker'}),
	'0', 'no paycons worker on the standby');
is($standby->safe_psql('postgres', q{SELECT state FROM paycons.orders WHERE order_id = 'tap-sb'}),
	'paying', 'the stuck order is untouched on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons notifier'}),
	'0', 'no paycons notifier on the standby');
is($standby->safe_psql('postgres', 'SELECT worker_pid IS NULL FROM paycons.stats()'),
	't', 'stats show no worker on the standby');
is($standby->safe_psql('postgres', q{SELECT worker_status || ': ' || worker_hint FROM paycons.health}),
	'standby: this server is in recovery: the paycons worker of this database starts when it is promoted.',
	'health says the worker waits for a promotion');

$primary->stop;
$standby->promote;
ok($standby->poll_query_until('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker'}, '1'),
	'worker started after promotion');
ok($standby->poll_query_until('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons notifier'}, '1'),
	'and the notifier');
ok($standby->poll_query_until('postgres', q{SELECT worker_status FROM paycons.health}, 'running'),
	'health says a worker serves the database');
ok($standby->poll_query_until('postgres',
	q{SELECT state FROM paycons.orders WHERE order_id = 'tap-sb'}, 'closed'),
	'the promoted node closes the stuck order');
ok($standby->poll_query_until('postgres',
	q{SELECT reserved FROM paycons.stock WHERE sku = 'tap-sku'}, '0'),
	'and releases its stock');

$standby->stop;
done_testing();
