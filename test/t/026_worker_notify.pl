# NOTIFY paycons_outbox off the commit path: in a database served by a
# notifier, commits that wrote outbox events are announced by the notifier,
# many commits per notification, soon after they commit; a long
# maintenance pass does not delay it.  Where no notifier serves the
# database (unlisted, notifier stopped, paycons.outbox_notify =
# transaction) each writing transaction notifies itself; off sends nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $interval = 0.05;    # paycons.notify_interval
my $bound = 1.0;        # seconds within which a commit must be announced

my $node = PostgreSQL::Test::Cluster->new('notify');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
paycons.notify_interval = '50ms'
max_prepared_transactions = 2
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql($_, 'CREATE EXTENSION paycons') for ('postgres', 'other');
ok($node->poll_query_until('postgres', 'SELECT notifier_pid IS NOT NULL FROM paycons.stats()'),
	'the notifier of the listed database runs');
my $notifier = $node->safe_psql('postgres', 'SELECT notifier_pid FROM paycons.stats()');

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN paycons_outbox');

# The senders' pids of the notifications the listener got since last asked
sub received
{
	my ($l) = @_;
	my $out = $l->query_safe('SELECT 1');
	return ($out =~ /Asynchronous notification "paycons_outbox" received from server process with PID (\d+)/g);
}

# How many notifications the listener got since last asked
sub count_received
{
	my @pids = received(@_);
	return scalar(@pids);
}

# Poll the listener until a notification arrives: (seconds since $t0, pids)
sub wait_notified
{
	my ($l, $t0, $limit) = @_;
	while (time() - $t0 < $limit)
	{
		my @pids = received($l);
		return (time() - $t0, @pids) if @pids;
		usleep(5_000);
	}
	return (undef);
}

sub emit
{
	my ($db, $prefix) = @_;
	$node->safe_psql($db, ($prefix // '') . q{SELECT paycons.emit('tap', 'a', 'tick', NULL)});
}

# 1. One commit when nothing is pending: announced by the notifier, quickly.
my $worst = 0;
for my $i (1 .. 5)
{
	received($listener);
	usleep(100_000);
	received($listener);
	emit('postgres');
	my ($elapsed, @pids) = wait_notified($listener, time(), $bound);
	ok(defined $elapsed, "commit $i is announced within ${bound}s");
	is("@pids", $notifier, "by the notifier (one notification)");
	$worst = $elapsed if defined $elapsed && $elapsed > $worst;
}
note sprintf('slowest announcement of a single commit: %.1f ms (poll every 5 ms)', $worst * 1000);

# 2. Many commits from several sessions: far fewer notifications, and each
# batch is followed by one.
my $sent0 = $node->safe_psql('postgres', 'SELECT notifications FROM paycons.stats()');
received($listener);
my $t0 = time();
$node->pgbench('--no-vacuum --client=4 --jobs=2 --transactions=100',
	0, [qr{processed: 400/400}], [qr{^$}], 'four sessions commit 400 transactions with an event each',
	{ 'notify_emit' => q{SELECT paycons.emit('tap', 'c' || :client_id, 'tick', NULL);} });
my $took = time() - $t0;
usleep(300_000);
my @pids = received($listener);
my $n = scalar(@pids);
ok($n >= 1, "the 400 commits were announced ($n notifications)");
ok($n <= 100, "by far fewer notifications than commits ($n for 400)");
ok($n <= $took / $interval + 2,
	sprintf('no more than one per paycons.notify_interval (%d in %.2fs)', $n, $took));
is(scalar(grep { $_ != $notifier } @pids), 0, 'all sent by the notifier');
ok($node->safe_psql('postgres', 'SELECT notifications FROM paycons.stats()') - $sent0 >= $n,
	'stats count them');
for my $batch (1 .. 3)
{
	received($listener);
	$node->pgbench('--no-vacuum --client=3 --jobs=3 --transactions=20',
		0, [qr{processed: 60/60}], [qr{^$}], "batch $batch: three sessions commit 60 transactions",
		{ "notify_batch_$batch" => q{SELECT paycons.emit('tap', 'b' || :client_id, 'tick', NULL);} });
	my ($elapsed) = wait_notified($listener, time(), $bound);
	ok(defined $elapsed, "batch $batch is followed by a notification within ${bound}s");
}

# 3. A rolled-back transaction announces nothing; neither does off.
received($listener);
$node->safe_psql('postgres', q{BEGIN; SELECT paycons.emit('tap', 'r', 'tick', NULL); ROLLBACK;});
emit('postgres', 'SET paycons.outbox_notify = off; ') for 1 .. 3;
usleep(300_000);
is(count_received($listener), 0, 'no notification for a rollback or with outbox_notify = off');
is($node->safe_psql('postgres', 'SET paycons.outbox_notify = false; SHOW paycons.outbox_notify'),
	'off', 'outbox_notify still takes boolean spellings');

# 4. outbox_notify = transaction: each writing transaction notifies itself.
emit('postgres', 'SET paycons.outbox_notify = transaction; ') for 1 .. 3;
usleep(300_000);
@pids = received($listener);
is(scalar(@pids), 3, 'transaction: one notification per writing transaction');
is(scalar(grep { $_ == $notifier } @pids), 0, 'sent by the writers, not the notifier');

# 5. An unlisted database has no notifier: one notification per transaction.
my $listener2 = $node->background_psql('other');
$listener2->query_safe('LISTEN paycons_outbox');
emit('other') for 1 .. 3;
usleep(300_000);
is(count_received($listener2), 3, 'unlisted database: one notification per writing transaction');
is(count_received($listener), 0, 'and nothing crosses databases');

# 6. Two-phase commit: with the notifier the transaction holds no pending
# NOTIFY, so it can be prepared; without it PostgreSQL refuses, as before.
$node->safe_psql('postgres', q{
BEGIN; SELECT paycons.emit('tap', 'p', 'prepared', NULL); PREPARE TRANSACTION 'tap_p1';
COMMIT PREPARED 'tap_p1';});
is($node->safe_psql('postgres', q{SELECT count(*) FROM paycons.outbox WHERE event_type = 'prepared'}),
	'1', 'served database: a transaction that wrote an event can be prepared');
my ($ret, $out, $err) = $node->psql('other',
	q{BEGIN; SELECT paycons.emit('tap', 'p', 'prepared', NULL); PREPARE TRANSACTION 'tap_p2';});
like($err, qr/cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or NOTIFY/,
	'unlisted database: PREPARE refuses the pending NOTIFY (set outbox_notify = off there)');
received($listener2);

# 7. A long maintenance pass does not delay notifications.
$node->safe_psql('postgres', q{
CREATE FUNCTION public.slow(text, jsonb) RETURNS void LANGUAGE sql AS 'SELECT pg_sleep(3)';
SELECT paycons.create_order('tap-slow', 100, 'USD');
SELECT paycons.enqueue_compensation('tap-slow', 'tap-slow', 'public.slow(text,jsonb)');
SELECT paycons.wake();
});
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
  WHERE backend_type = 'paycons worker' AND wait_event = 'PgSleep'}),
	'the worker is inside a long pass');
received($listener);
usleep(100_000);
received($listener);
emit('postgres');
my ($during, @p2) = wait_notified($listener, time(), $bound);
ok(defined $during, sprintf('a commit during the pass is announced within %.0f ms', ($during // 9) * 1000));
is("@p2", $notifier, 'by the notifier');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
  WHERE backend_type = 'paycons worker' AND wait_event = 'PgSleep'}), '1',
	'while the pass is still running');

# 8. The notifier stopped: writers notify themselves until it is back.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($notifier)");
ok($node->poll_query_until('postgres', "SELECT notifier_pid IS DISTINCT FROM $notifier FROM paycons.stats()"),
	'the notifier is gone');
my $restarted = $node->safe_psql('postgres', 'SELECT coalesce(notifier_pid, 0) FROM paycons.stats()');
SKIP:
{
	skip 'the notifier was restarted too fast to see the fallback', 3 if $restarted != 0;
	like($node->safe_psql('postgres', 'SELECT worker_hint FROM paycons.health'),
		qr/notifier of this database is not running/, 'health says the notifier is down');
	received($listener);
	emit('postgres');
	my ($e, @p) = wait_notified($listener, time(), $bound);
	ok(defined $e, 'meanwhile a commit is still announced');
	ok(@p && $p[0] != $notifier, 'by the writer itself');
}
ok($node->poll_query_until('postgres', 'SELECT notifier_pid IS NOT NULL FROM paycons.stats()'),
	'the postmaster restarts the notifier');
$notifier = $node->safe_psql('postgres', 'SELECT notifier_pid FROM paycons.stats()');
received($listener);
usleep(100_000);
received($listener);
emit('postgres');
my ($e2, @p3) = wait_notified($listener, time(), $bound);
ok(defined $e2, 'after the restart commits are announced');
is("@p3", $notifier, 'by the new notifier');

$listener->quit;
$listener2->quit;
$node->stop;
done_testing();
