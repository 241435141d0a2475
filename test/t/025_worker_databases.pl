# One worker (and one notifier) per database of paycons.database: two
# listed databases each get theirs and their stuck orders closed; a third,
# unlisted database is left alone and its health says so and what to do;
# counters are per database (a pass run by hand in the unlisted database
# is counted there); wake() reaches only the current database's worker;
# kill -9 of a worker brings every process back; a listed database that
# does not exist is named in the log; a bad list stops the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('databases');
$node->init;
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shop_a');
$node->safe_psql('postgres', 'CREATE DATABASE "shop b"');
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->stop;

$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'shop_a, "shop b", nosuchdb'
paycons.naptime = '200ms'
paycons.stuck_grace = 0
});
my $offset = -s $node->logfile;
$node->start;

for my $db ('shop_a', 'shop b', 'other')
{
	$node->safe_psql($db, qq{
CREATE EXTENSION paycons;
SELECT paycons.add_stock('tap-sku', 10);
SELECT paycons.create_order('tap-stuck', 100, 'USD', '1 millisecond');
SELECT paycons.reserve_stock('tap-stuck', '[{"sku": "tap-sku", "quantity": 2}]');
SELECT paycons.begin_payment('tap-stuck', 'tap-chan');
});
}

# each listed database: its worker closes its stuck order
for my $db ('shop_a', 'shop b')
{
	ok($node->poll_query_until($db,
		q{SELECT state FROM paycons.orders WHERE order_id = 'tap-stuck'}, 'closed'),
		"the worker of \"$db\" closes its stuck order");
	ok($node->poll_query_until($db,
		q{SELECT reserved FROM paycons.stock WHERE sku = 'tap-sku'}, '0'),
		"and releases its stock");
	is($node->safe_psql($db, q{SELECT worker_status, served, orders_closed FROM paycons.stats()}),
		'running|t|1', "stats of \"$db\" count its own close");
	is($node->safe_psql($db, q{SELECT worker_status, worker_hint IS NULL FROM paycons.health}),
		'running|t', "health of \"$db\": a worker serves it, nothing to do");
	is($node->safe_psql($db, 'SELECT paycons.wake()'), 't', "wake() in \"$db\" reaches its worker");
}
is($node->safe_psql('postgres', q{
SELECT string_agg(backend_type || '@' || datname, ', ' ORDER BY backend_type, datname)
  FROM pg_stat_activity WHERE backend_type IN ('paycons worker', 'paycons notifier')}),
	'paycons notifier@shop b, paycons notifier@shop_a, paycons worker@shop b, paycons worker@shop_a',
	'one worker and one notifier per listed database');

# the unlisted database: untouched, and health says why and what to do
sleep 1;
is($node->safe_psql('other', q{SELECT state FROM paycons.orders WHERE order_id = 'tap-stuck'}),
	'paying', 'the unlisted database keeps its stuck order');
is($node->safe_psql('other', q{SELECT worker_status, served, worker_pid IS NULL, passes IS NULL FROM paycons.stats()}),
	'not served|f|t|t', 'stats of the unlisted database: not served, nothing counted');
my $hint = $node->safe_psql('other', q{SELECT worker_status || ': ' || worker_hint FROM paycons.health});
like($hint, qr/^not served: no paycons worker serves database other \(paycons.database = 'shop_a, "shop b", nosuchdb'\)/,
	'health of the unlisted database says no worker serves it');
like($hint, qr/Add the database to paycons.database/, 'and how to get one');
like($hint, qr/pg_cron/, 'or to schedule the pass');
is($node->safe_psql('other', 'SELECT paycons.wake()'), 'f', 'wake() there reaches no worker');

# a pass by hand (as pg_cron would run it) is counted for that database only
$node->safe_psql('other', 'SELECT paycons.run_maintenance()');
is($node->safe_psql('other', q{SELECT state FROM paycons.orders WHERE order_id = 'tap-stuck'}),
	'closed', 'run_maintenance() by hand closes it');
is($node->safe_psql('other', q{SELECT passes, orders_closed, last_pass_at IS NOT NULL FROM paycons.stats()}),
	'1|1|t', 'and is counted in the unlisted database');
is($node->safe_psql('other', q{SELECT worker_status, last_pass_at IS NOT NULL FROM paycons.health}),
	'not served|t', 'health still says not served, with the last pass');
is($node->safe_psql('shop_a', 'SELECT orders_closed FROM paycons.stats()'), '1',
	'the listed database\'s counters are its own');

# the listed database that does not exist: the FATAL says which process
$node->wait_for_log(qr/CONTEXT:  paycons worker of database "nosuchdb" \(paycons.database\); it is restarted every 5 s/, $offset);
ok(1, 'a listed database that does not exist is named in the log');

# kill -9 of one worker: crash cycle, every worker and notifier comes back
my %before = split /[|\n]/, $node->safe_psql('postgres', q{
SELECT backend_type || '@' || datname, pid FROM pg_stat_activity
 WHERE backend_type IN ('paycons worker', 'paycons notifier')});
$offset = -s $node->logfile;
kill 'KILL', $before{'paycons worker@shop b'};
$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
ok($node->poll_query_until('postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type IN ('paycons worker', 'paycons notifier')}, '4'),
	'after kill -9 of a worker all four processes are back');
my %after = split /[|\n]/, $node->safe_psql('postgres', q{
SELECT backend_type || '@' || datname, pid FROM pg_stat_activity
 WHERE backend_type IN ('paycons worker', 'paycons notifier')});
is(scalar(grep { ($before{$_} // 0) == $after{$_} } keys %after), 0, 'all with new pids');
$node->safe_psql('shop b', q{
SELECT paycons.create_order('tap-stuck-2', 100, 'USD', '1 millisecond');
SELECT paycons.begin_payment('tap-stuck-2', 'tap-chan');
});
ok($node->poll_query_until('shop b',
	q{SELECT state FROM paycons.orders WHERE order_id = 'tap-stuck-2'}, 'closed'),
	'the restarted worker closes stuck orders again');
is($node->safe_psql('shop b', q{SELECT worker_pid = } . $after{'paycons worker@shop b'} . q{ FROM paycons.stats()}),
	't', 'stats know the new worker');

# a bad list (a database twice) stops the server with a clear message
$node->stop;
$node->append_conf('postgresql.conf', q{paycons.database = 'shop_a, shop_a'});
$offset = -s $node->logfile;
ok(!$node->start(fail_ok => 1), 'a database listed twice: the server does not start');
like(slurp_file($node->logfile, $offset), qr/Database "shop_a" is listed twice/,
	'and says why');

done_testing();
