# Failover in the middle of a callback storm.
#
# A primary with a synchronous streaming standby (synchronous_standby_names
# names it, synchronous_commit = on: a commit is acknowledged once the
# standby has flushed it).  The storm of PayconsStorm.pm runs against the
# primary with its worker and a consumer; at a random moment the primary
# dies (SIGKILL to all its processes) and the standby is promoted.
# Nothing acknowledged may be lost: every callback the primary answered is
# on the promoted standby with the outcome it was answered, and verify()
# finds nothing there.  The worker, which does not run on a standby, starts
# with the promotion and takes over the orders whose deadline passes now.
# The clients reconnect to the new primary, re-deliver every callback they
# had sent (answered or not) and deliver the rest; the consumer drains the
# outbox there.  At the end verify() is clean and every state change has
# exactly one order.<state> event.
#
# PAYCONS_STORM_SEED=<n> replays a run (the seed is printed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use List::Util qw(shuffle);
use FindBin;
use lib $FindBin::RealBin;
use PayconsStorm;

my $seed = $ENV{PAYCONS_STORM_SEED} // int(time() * 1000) % 1000000;
my $started = time();
note "seed $seed";

my $conf = qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
paycons.stuck_grace = '1s'
paycons.outbox_rotate_interval = '1s'
max_connections = 40
log_min_messages = warning
log_statement = none
};
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION paycons');
$primary->backup('bk');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
# from now on every commit waits for the standby's flush
# (PAYCONS_FAILOVER_ASYNC=1 leaves replication asynchronous, to see what
# the synchronous path buys: the test then loses answered callbacks)
my $sync = !$ENV{PAYCONS_FAILOVER_ASYNC};
if ($sync)
{
	$primary->append_conf('postgresql.conf', qq{
synchronous_standby_names = 'standby'
synchronous_commit = on
});
	$primary->reload;
}
ok($primary->poll_query_until('postgres',
	q{SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'},
	$sync ? 'sync' : 'async'),
	'the standby is ' . ($sync ? 'synchronous' : 'asynchronous'));

my $storm = PayconsStorm->new(orders => 3000, seed => $seed);
$primary->safe_psql('postgres', $storm->setup_sql('1 second'));
my $nsends  = scalar @{ $storm->{sends} };
my $nunique = scalar @{ $storm->{cbs} };
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker'}),
	'0', 'no paycons worker on the standby');

sub verify_count
{
	my ($node, $label) = @_;
	my $v = $node->safe_psql('postgres',
		q{SELECT count(*) || coalesce(': ' || string_agg(invariant || ' ' || key || ' ' || detail, '; '), '')
		    FROM (SELECT * FROM paycons.verify() LIMIT 10) v});
	is($v, '0', "$label: verify() finds nothing");
	return $v;
}

# The storm on the primary; orders that only the new primary's worker can
# close (their deadline passes after the failover) are created just before
# the primary dies.
# strike once a client has sent 20% to 60% of its callbacks
$storm->start_phase($primary, [ 0 .. $nsends - 1 ], 0.2 + rand(0.4));
$storm->wait_mark(60);
$primary->safe_psql('postgres', q{
SELECT count(paycons.begin_payment(o.order_id, 'tap'))
  FROM generate_series(1, 50) g,
       LATERAL paycons.create_order('late-' || g, 500, 'CNY', '4 seconds') o});
# The standby stops receiving WAL for the last half second (its WAL
# receiver is stopped with SIGSTOP): commits on the synchronous path wait
# for it instead of being acknowledged, so nothing answered in that window
# can be lost.  (With asynchronous replication they would be answered,
# and lost by the failover.)
my $walrcv = $standby->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver');
ok($walrcv > 0, "the standby's WAL receiver runs (pid $walrcv)");
kill 'STOP', $walrcv;
usleep(500_000);
my $waiting = $primary->safe_psql('postgres',
	q{SELECT count(*) FILTER (WHERE wait_event = 'SyncRep') || ' in SyncRep, '
	         || count(*) FILTER (WHERE wait_event_type = 'Lock') || ' behind their locks'
	    FROM pg_stat_activity WHERE backend_type = 'client backend'});
my $when = time() - $storm->{phase_start};
my $t_kill = time();
$storm->crash($primary);
kill 'CONT', $walrcv;
note "sessions waiting for the standby when the primary died: $waiting";
my $answered = $storm->finish_phase;
note sprintf('primary killed after %.2fs: %d of %d sends answered', $when, $answered, $nsends);
ok($answered < $nsends, "the primary died in the middle of the storm ($answered of $nsends answered)");

$standby->promote;

# Nothing acknowledged is lost: before anything else touches the new
# primary, every answered callback is there with its answer.
my ($checked, $bad) = $storm->check_answers($standby, 'after promotion', $storm->{phase} + 1);
my $found = $checked - $bad;
is($bad, 0, "all $checked callbacks the primary answered are on the promoted standby with their answer");
verify_count($standby, 'after promotion');

ok($standby->poll_query_until('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker'}, '1'),
	'the worker starts on the promoted standby');
ok($standby->poll_query_until('postgres',
	qq{SELECT count(*) FROM paycons.order_history
	    WHERE order_id LIKE 'late-%' AND to_state::text = 'closed' AND at > to_timestamp($t_kill)}, '50'),
	'it closes the 50 orders whose deadline passed after the failover');
my $late_closed = $standby->safe_psql('postgres',
	qq{SELECT count(*) FROM paycons.order_history
	    WHERE order_id LIKE 'late-%' AND to_state::text = 'closed' AND at > to_timestamp($t_kill)});

# The clients reconnect to the new primary: re-deliver everything sent,
# deliver the rest.
my %todo = map { $_ => 1 } (@{ $storm->sent_sends }, @{ $storm->remaining_sends });
my @redeliver = keys %todo;
my $resent = scalar grep { exists $storm->{sent}{$_} } @redeliver;
my $inflight = scalar grep { !exists $storm->{answers}{$_} && exists $storm->{sent}{$_} } @redeliver;
my $phase = $storm->start_phase($standby, [ shuffle(@redeliver) ]);
my $deadline = time() + 120;
usleep(50_000) while !$storm->clients_done && time() < $deadline;
my $a2 = $storm->finish_phase(stop_consumer => 1, node => $standby);
is($a2, scalar @redeliver, 'every re-delivery and late first delivery is answered by the new primary');

my ($redup, $rebad) = $storm->check_redeliveries(\@redeliver, $phase);
is($rebad, 0, "the $redup re-deliveries of callbacks answered by the old primary answer the same, as duplicates");

ok($storm->drain($standby, 60), 'the outbox drains on the new primary');
($checked, $bad) = $storm->check_answers($standby, 'end', $phase + 1);
is($bad, 0, "all $checked answered callbacks are stored with their answer");
my $keys = $standby->safe_psql('postgres',
	q{SELECT count(*) FROM paycons.callbacks WHERE channel = 'tap' AND channel_txn_id NOT LIKE 'CR-%'});
my %uniq = map { $_->{txn} => 1 } @{ $storm->{cbs} };
is($keys, scalar(keys %uniq), 'every callback key is stored once');
is($storm->event_mismatches($standby), '0',
	'every state change has exactly one order.<state> event, delivered or in the outbox');
my $violations = verify_count($standby, 'end');

diag(sprintf(
	'failover storm (seed %d, %.0fs): %d callbacks sent (%d distinct, %d replays); answered by the old primary: %d '
	  . '(%d found on the promoted standby with their answer); sessions waiting for the stalled standby at the failover: %s; in flight: %d; '
	  . 'orders closed by the worker of the new primary: %s of 50; re-delivered to the new primary: %d '
	  . '(%d answered before, answered differently: %d); violations: %s',
	$seed, time() - $started, $nsends, $nunique, $nsends - $nunique, $answered, $found, $waiting, $inflight,
	$late_closed, $resent, $redup, $rebad, $violations));

$standby->stop;
done_testing();
