# Crash in the middle of a callback storm, twice.
#
# 8 clients apply a storm of callbacks (PayconsStorm.pm: 30% replays, random
# order, refunds, mismatched amounts, conflicts, unknown orders, money for
# orders the worker closes meanwhile) while the worker sweeps (preloaded,
# naptime 200 ms) and a consumer drains the outbox.  At a random moment the
# postmaster and all its processes are killed with SIGKILL; the server is
# restarted and paycons.verify() must find nothing (recovery never leaves
# half a callback), every callback answered before the crash must be stored
# with the outcome it was answered; the storm goes on, and is killed again.
# After the second restart every callback the clients had sent (answered or
# not) is delivered again, the rest for the first time: each re-delivery
# must answer the stored outcome as a duplicate.  At the end verify() is
# clean and every state change has exactly one order.<state> event
# (delivered, or still in the outbox).
#
# PAYCONS_STORM_SEED=<n> replays a run (the seed is printed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use FindBin;
use lib $FindBin::RealBin;
use PayconsStorm;

my $seed = $ENV{PAYCONS_STORM_SEED} // int(time() * 1000) % 1000000;
my $started = time();
note "seed $seed";

my $node = PostgreSQL::Test::Cluster->new('crash_storm');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
paycons.stuck_grace = '1s'
paycons.outbox_rotate_interval = '1s'
max_connections = 40
log_min_messages = warning
log_statement = none
});
$node->start;

my $storm = PayconsStorm->new(orders => 3000, seed => $seed);
$node->safe_psql('postgres', $storm->setup_sql('1 second'));
my $nsends  = scalar @{ $storm->{sends} };
my $nunique = scalar @{ $storm->{cbs} };

my @recovered;    # figures after each recovery

sub verify_count
{
	my ($label) = @_;
	my $v = $node->safe_psql('postgres',
		q{SELECT count(*) || coalesce(': ' || string_agg(invariant || ' ' || key || ' ' || detail, '; '), '')
		    FROM (SELECT * FROM paycons.verify() LIMIT 10) v});
	is($v, '0', "$label: verify() finds nothing");
	return $v;
}

# Run a phase of the storm on "sends" and crash the server at a random
# moment: once a client has sent a random fraction in [lo, hi] of its
# sends of the phase.
sub storm_and_crash
{
	my ($label, $sends, $lo, $hi) = @_;
	my $fraction = $lo + rand($hi - $lo);
	$storm->start_phase($node, $sends, $fraction);
	my $marked = $storm->wait_mark(60);
	my $when = time() - $storm->{phase_start};
	my $killed = $storm->crash($node);
	my $answered = $storm->finish_phase;
	note sprintf('%s: %d sends, killed postmaster and %d processes after %.2fs (%s %.0f%% of its sends), %d answered',
		$label, scalar(@$sends), $killed, $when, $marked ? 'a client had sent' : 'no client reached',
		100 * $fraction, $answered);
	ok($answered < @$sends, "$label: the crash came in the middle of the storm ($answered of "
		  . scalar(@$sends) . ' answered)');
	$node->start;
	my $v = verify_count("$label, after recovery");
	my ($checked, $bad) = $storm->check_answers($node, $label, $storm->{phase} + 1);
	is($bad, 0, "$label: all $checked callbacks answered so far are stored with their answer");
	push @recovered, sprintf('after %s: violations %s, %d of %d answered callbacks stored with their answer',
		$label, $v, $checked - $bad, $checked);
	return $answered;
}

my $a1 = storm_and_crash('crash 1', [ 0 .. $nsends - 1 ], 0.2, 0.6);
my $inflight1 = scalar grep { !exists $storm->{answers}{$_} } keys %{ $storm->{inflight} };
my $a2 = storm_and_crash('crash 2', $storm->remaining_sends, 0.2, 0.6);
my $inflight2 = scalar grep { !exists $storm->{answers}{$_} } keys %{ $storm->{inflight} };

# Re-deliver every callback sent so far (answered or not), and deliver the
# ones never sent; the worker and the consumer keep running.
my %todo = map { $_ => 1 } (@{ $storm->sent_sends }, @{ $storm->remaining_sends });
my @redeliver = keys %todo;
my $resent = scalar grep { exists $storm->{sent}{$_} } @redeliver;
my $phase = $storm->start_phase($node, [ List::Util::shuffle(@redeliver) ]);
my $deadline = time() + 120;
usleep(50_000) while !$storm->clients_done && time() < $deadline;
my $a3 = $storm->finish_phase(stop_consumer => 1, node => $node);
is($a3, scalar @redeliver, 'every re-delivery and late first delivery is answered');

# Re-deliveries answer the stored outcome, as duplicates.
my ($redup, $rebad) = $storm->check_redeliveries(\@redeliver, $phase);
is($rebad, 0, "the $redup re-deliveries of answered callbacks answer the same outcome, as duplicates");

ok($storm->drain($node, 60), 'the outbox drains');
my ($checked, $bad) = $storm->check_answers($node, 'end', $phase + 1);
is($bad, 0, "all $checked answered callbacks are stored with their answer");
my $keys = $node->safe_psql('postgres',
	q{SELECT count(*) FROM paycons.callbacks WHERE channel = 'tap' AND channel_txn_id NOT LIKE 'CR-%'});
my %uniq = map { $_->{txn} => 1 } @{ $storm->{cbs} };
is($keys, scalar(keys %uniq), 'every callback key is stored once');
is($storm->event_mismatches($node), '0',
	'every state change has exactly one order.<state> event, delivered or in the outbox');
my $violations = verify_count('end');

my $closed = $node->safe_psql('postgres',
	q{SELECT count(*) FROM paycons.order_history WHERE reason LIKE 'paycons: no payment%'});
ok($closed > 0, "the worker closed $closed stuck orders during the storm");
my $outcomes = $node->safe_psql('postgres',
	q{SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome)
	    FROM (SELECT outcome, count(*) n FROM paycons.callbacks GROUP BY 1) s});
my $redelivered_events = $node->safe_psql('postgres',
	q{SELECT coalesce(sum(deliveries - 1), 0) || ' of ' || count(*) FROM delivered});

diag(sprintf(
	'crash storm (seed %d, %.0fs): %d callbacks sent (%d distinct, %d replays); answered before crash 1: %d, '
	  . 'before crash 2: %d; in flight at the crashes: %d, %d; %s; re-delivered after the crashes: %d '
	  . '(%d answered before, answered differently: %d); violations: %s; events delivered twice: %s; '
	  . 'stored outcomes: %s',
	$seed, time() - $started, $nsends, $nunique, $nsends - $nunique, $a1, $a2, $inflight1,
	$inflight2, join('; ', @recovered), $resent, $redup, $rebad, $violations, $redelivered_events, $outcomes));

$node->stop;
done_testing();
