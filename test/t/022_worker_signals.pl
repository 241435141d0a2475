# The worker's life: it idles (logging once) while its database lacks the
# extension; SIGHUP re-reads paycons.naptime and paycons.enabled; SIGTERM
# stops it within a second; the postmaster restarts it afterwards, and after
# a crash.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('signals');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '200ms'
restart_after_crash = on
});
my $start = -s $node->logfile // 0;
$node->start;

# no extension yet: said once, then quiet
$node->wait_for_log(qr/paycons worker is idle: extension "paycons" is not installed in database "postgres"/, $start);
usleep(1_000_000);
my $log = substr(slurp_file($node->logfile), $start);
my $count = () = $log =~ /is not installed in database/g;
is($count, 1, 'missing extension logged once');

my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE EXTENSION paycons');
$node->wait_for_log(qr/paycons worker found extension "paycons" in database "postgres"; maintenance resumes/, $offset);
ok($node->poll_query_until('postgres', 'SELECT passes > 0 FROM paycons.stats()'),
	'passes run once the extension exists');

sub passes
{
	return $node->safe_psql('postgres', 'SELECT passes FROM paycons.stats()');
}

# a long naptime: passes stop (almost) growing
$offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "paycons.naptime = '1h'");
$node->reload;
$node->wait_for_log(qr/paycons worker naptime is now 3600000 ms/, $offset);
my $p1 = passes();
usleep(1_500_000);
my $p2 = passes();
ok($p2 - $p1 <= 1, "naptime 1h: at most one pass in 1.5s ($p1 -> $p2)");

# SIGHUP back to a short naptime: the sleeping worker wakes and runs often
$offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "paycons.naptime = '100ms'");
$node->reload;
$node->wait_for_log(qr/paycons worker naptime is now 100 ms/, $offset);
$p1 = passes();
usleep(1_500_000);
$p2 = passes();
ok($p2 - $p1 >= 5, "naptime 100ms after SIGHUP: many passes in 1.5s ($p1 -> $p2)");

# paycons.enabled = off: idle
$offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "paycons.enabled = off");
$node->reload;
$node->wait_for_log(qr/paycons worker is idle in database "postgres": paycons.enabled is off/, $offset);
$p1 = passes();
usleep(1_000_000);
$p2 = passes();
is($p2, $p1, 'no passes while disabled');
is($node->safe_psql('postgres', q{SELECT worker_status || ': ' || worker_hint FROM paycons.health}),
	'disabled: paycons.enabled is off: the worker runs no maintenance passes. Turn it on, or schedule SELECT paycons.run_maintenance() with pg_cron.',
	'health says the worker is disabled');
is($node->safe_psql('postgres', 'SELECT notifier_pid IS NOT NULL FROM paycons.stats()'), 't',
	'the notifier keeps running while maintenance is disabled');
$node->append_conf('postgresql.conf', "paycons.enabled = on");
$node->reload;
ok($node->poll_query_until('postgres', "SELECT passes > $p2 FROM paycons.stats()"),
	'passes resume when enabled again');

# SIGTERM: gone within a second
my $pid = $node->safe_psql('postgres', 'SELECT worker_pid FROM paycons.stats()');
ok($pid > 0, "worker pid $pid");
my $t0 = time();
kill 'TERM', $pid;
my $gone;
while (time() - $t0 < 5)
{
	if (!kill(0, $pid)) { $gone = time() - $t0; last; }
	usleep(10_000);
}
ok(defined $gone && $gone < 1.0,
	sprintf('worker exits within a second of SIGTERM (%.3fs)', $gone // -1));

# restarted by the postmaster (bgw_restart_time = 5s)
ok($node->poll_query_until('postgres',
	"SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM paycons.stats()"),
	'the postmaster restarts the worker');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker'}) == 1,
	'one worker');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons notifier'}) == 1,
	'and one notifier');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'paycons worker' AND xact_start IS NOT NULL AND state = 'idle'}),
	'0', 'no transaction held open while it sleeps');

# a crash (SIGKILL): the postmaster reinitialises and the worker comes back
$pid = $node->safe_psql('postgres', 'SELECT worker_pid FROM paycons.stats()');
$offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
ok($node->poll_query_until('postgres',
	"SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM paycons.stats()"),
	'the worker is back after a crash');
ok($node->poll_query_until('postgres', 'SELECT passes > 0 FROM paycons.stats()'),
	'and runs passes again');
ok($node->poll_query_until('postgres', 'SELECT notifier_pid IS NOT NULL FROM paycons.stats()'),
	'the notifier is back too');

$node->stop;
done_testing();
