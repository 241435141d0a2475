# Without shared_preload_libraries: everything but the worker works, and
# paycons.stats() and paycons.health say plainly that there is no worker,
# no notifier and no shared-memory counters, and what to do.  Notification
# falls back to one NOTIFY per writing transaction.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 2');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION paycons;
SELECT paycons.create_order('np-1', 100, 'USD', '1 millisecond');
SELECT paycons.begin_payment('np-1', 'np-chan');
});

is($node->safe_psql('postgres', q{
SELECT preloaded, served IS NULL, worker_status, worker_pid IS NULL, notifier_pid IS NULL,
       last_pass_at IS NULL, passes IS NULL, notifications IS NULL
  FROM paycons.stats()}),
	'f|t|not preloaded|t|t|t|t|t', 'stats: not preloaded, no worker, no notifier, counters unknown (NULL)');
is($node->safe_psql('postgres', 'SELECT paycons.wake()'), 'f', 'wake() reaches no worker');
is($node->safe_psql('postgres', q{SELECT current_setting('paycons.database', true) IS NULL}), 't',
	'paycons.database is not even defined');

my $row = $node->safe_psql('postgres', q{SELECT worker_status || ': ' || worker_hint FROM paycons.health});
like($row, qr/^not preloaded: paycons is not in shared_preload_libraries: there is no background worker, no notifier and no shared-memory counters/,
	'health says there is no worker and no counters');
like($row, qr/Schedule SELECT paycons.run_maintenance\(\) with pg_cron/, 'and to schedule the pass with pg_cron');
like($row, qr/add paycons to shared_preload_libraries and this database to paycons.database/,
	'or to preload paycons');

# the pass itself works, it is just not counted
$node->safe_psql('postgres', 'SET paycons.stuck_grace = 0; SELECT paycons.run_maintenance()');
is($node->safe_psql('postgres', q{SELECT state FROM paycons.orders WHERE order_id = 'np-1'}),
	'closed', 'run_maintenance() works without preload');
is($node->safe_psql('postgres', 'SELECT passes IS NULL, last_pass_at IS NULL FROM paycons.stats()'),
	't|t', 'and nothing pretends to count it');

# notification: one per writing transaction, from the writer
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN paycons_outbox');
$node->safe_psql('postgres', q{SELECT paycons.emit('np', 'a', 'tick', NULL)}) for 1 .. 2;
$node->safe_psql('postgres', q{SET paycons.outbox_notify = off; SELECT paycons.emit('np', 'a', 'tick', NULL)});
usleep(200_000);
my $out = $listener->query_safe('SELECT 1');
my @n = ($out =~ /Asynchronous notification "paycons_outbox"/g);
is(scalar(@n), 2, 'one NOTIFY per writing transaction, none with outbox_notify = off');
$listener->quit;

# two-phase commit needs outbox_notify = off here (documented trade-off)
my ($ret, $o, $err) = $node->psql('postgres',
	q{BEGIN; SELECT paycons.emit('np', 'p', 'tick', NULL); PREPARE TRANSACTION 'np1';});
like($err, qr/cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY/,
	'PREPARE refuses the pending NOTIFY');
$node->safe_psql('postgres', q{SET paycons.outbox_notify = off;
BEGIN; SELECT paycons.emit('np', 'p', 'tick', NULL); PREPARE TRANSACTION 'np2'; COMMIT PREPARED 'np2';});
ok(1, 'with outbox_notify = off it can be prepared');

$node->stop;
done_testing();
