# The background worker retries a failing in-database compensation with
# backoff until it succeeds, and declares one that always fails dead after
# max_attempts, with a compensation.dead event.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('retry');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION paycons;
SELECT paycons.set_retry_policy('tap-flaky', '1 second', 2.0, '10 seconds', 6, 0.2, '{}');
SELECT paycons.set_retry_policy('tap-doomed', '200 milliseconds', 1.0, '200 milliseconds', 3, 0, '{}');
CREATE SEQUENCE calls;
-- fails while the call count is at most args->>'fail'; the sequence
-- survives the rollback of each failed attempt
CREATE FUNCTION flaky(order_id text, args jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('public.calls') <= (args->>'fail')::int THEN
        RAISE EXCEPTION 'refund API down' USING ERRCODE = '08006';
    END IF;
END;
$$;
SELECT paycons.create_order('tap-1', 100, 'USD');
SELECT paycons.create_order('tap-2', 100, 'USD');
});

ok($node->safe_psql('postgres', 'SELECT worker_pid IS NOT NULL FROM paycons.stats()') eq 't',
	'worker is running');

# Enqueue, then watch every attempt: each failure updates attempts and
# last_attempt_at (the time of the pass that ran it).
$node->safe_psql('postgres',
	q{SELECT paycons.enqueue_compensation('tap-1', 'tap-flaky', 'flaky(text,jsonb)', '{"fail": 3}')});
ok($node->safe_psql('postgres', 'SELECT paycons.wake()') eq 't', 'wake() reaches the worker');

my %seen;    # attempts => epoch of last_attempt_at
my $state = '';
my $deadline = time() + 40;
while (time() < $deadline)
{
	my $row = $node->safe_psql('postgres',
		q{SELECT state, attempts, extract(epoch FROM last_attempt_at) FROM paycons.compensations WHERE order_id = 'tap-1'});
	my ($st, $att, $at) = split /\|/, $row;
	$state = $st;
	$seen{$att} = $at if $att > 0 && !exists $seen{$att};
	last if $st eq 'done' || $st eq 'dead';
	usleep(50_000);
}
is($state, 'done', 'flaky compensation is done');
is($node->safe_psql('postgres', q{SELECT attempts FROM paycons.compensations WHERE order_id = 'tap-1'}),
	'4', 'after 4 attempts');
is($node->safe_psql('postgres', q{SELECT last_sqlstate FROM paycons.compensations WHERE order_id = 'tap-1'}),
	'08006', 'the last failure is recorded');

# Attempt k+1 comes after the delay of attempt k: at least its lower bound
# (base * 0.8), at most its upper bound plus one naptime and some slack.
for my $k (1 .. 3)
{
	next unless defined $seen{$k} && defined $seen{ $k + 1 };
	my $gap   = $seen{ $k + 1 } - $seen{$k};
	my $base  = 2**($k - 1);
	my $lower = $base * 0.8;
	my $upper = $base + 0.2 + 0.8;
	ok($gap >= $lower - 0.001 && $gap <= $upper,
		sprintf('gap after attempt %d is %.3fs, within [%.2f, %.2f]', $k, $gap, $lower, $upper));
}
is(scalar(keys %seen), 4, 'every attempt was observed');

# Always fails: dead after max_attempts = 3, and a compensation.dead event.
$node->safe_psql('postgres',
	q{SELECT paycons.enqueue_compensation('tap-2', 'tap-doomed', 'flaky(text,jsonb)', '{"fail": 1000000}')});
ok($node->poll_query_until('postgres',
	q{SELECT state FROM paycons.compensations WHERE order_id = 'tap-2'}, 'dead'),
	'doomed compensation goes dead');
is($node->safe_psql('postgres', q{SELECT attempts FROM paycons.compensations WHERE order_id = 'tap-2'}),
	'3', 'after max_attempts');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM paycons.outbox WHERE aggregate_id = 'tap-2' AND event_type = 'compensation.dead'}),
	'1', 'one compensation.dead event');
is($node->safe_psql('postgres', 'SELECT compensations_dead >= 1 AND compensations_done >= 1 FROM paycons.stats()'),
	't', 'stats count the work');

$node->stop;
done_testing();
