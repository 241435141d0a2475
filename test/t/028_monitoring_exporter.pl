# doc/monitoring/postgres_exporter.yaml: every query runs as a monitoring
# role granted by paycons.grant_monitor_role() (no privilege on the
# tables), returns at least one row, and returns exactly the columns its
# "metrics" list declares, in that order; values of GAUGE and COUNTER
# columns are numbers (or NULL), LABEL columns are never NULL.  Checked on
# a server with paycons preloaded (database served by a worker) and on one
# without preload, with orders in several states, callbacks, outbox events
# and a dead compensation.  The YAML is parsed here with a few regular
# expressions: it uses one fixed layout (see the file).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $yaml = ($ENV{REPO} // '.') . '/doc/monitoring/postgres_exporter.yaml';
$yaml = 'doc/monitoring/postgres_exporter.yaml' unless -r $yaml;

# Parse the exporter's query file: { name => {query, columns => [..], usage => {col => usage}} }
sub parse_queries
{
	my ($path) = @_;
	my (%q, @names, $name, $col, $mode);
	open my $fh, '<', $path or die "cannot read $path: $!";
	while (my $line = <$fh>)
	{
		chomp $line;
		next if $line =~ /^\s*#/;
		if ($line =~ /^([A-Za-z_][A-Za-z0-9_]*):\s*$/)
		{
			$name = $1;
			push @names, $name;
			$q{$name} = { query => '', columns => [], usage => {} };
			$mode = '';
			next;
		}
		next unless defined $name;
		if ($mode eq 'query')
		{
			if ($line =~ /^    (.*)$/) { $q{$name}{query} .= "$1\n"; next; }
			if ($line =~ /^\s*$/) { next; }
			$mode = '';
		}
		if ($line =~ /^  query:\s*\|\s*$/) { $mode = 'query'; next; }
		if ($line =~ /^  query:\s*"(.*)"\s*$/) { $q{$name}{query} = $1; next; }
		if ($line =~ /^  metrics:\s*$/) { $mode = 'metrics'; next; }
		if ($line =~ /^  [a-z_]+:/) { $mode = ''; next; }
		if ($mode eq 'metrics' && $line =~ /^    - ([A-Za-z_][A-Za-z0-9_]*):\s*$/)
		{
			$col = $1;
			push @{ $q{$name}{columns} }, $col;
			next;
		}
		if ($mode eq 'metrics' && $line =~ /^        usage:\s*"([A-Z]+)"\s*$/)
		{
			$q{$name}{usage}{$col} = $1;
			next;
		}
	}
	close $fh;
	return (\@names, \%q);
}

my ($names, $queries) = parse_queries($yaml);
ok(@$names >= 8, scalar(@$names) . " queries in $yaml");
for my $topic (qw(paycons_orders paycons_paying paycons_needs_review paycons_outbox
	paycons_compensations paycons_callbacks paycons_worker))
{
	ok(exists $queries->{$topic}, "the file has $topic");
}
for my $n (@$names)
{
	my $q = $queries->{$n};
	ok($q->{query} =~ /\bSELECT\b/i && @{ $q->{columns} } >= 2, "$n has a query and its columns");
	my @bad = grep { ($q->{usage}{$_} // '') !~ /^(LABEL|GAUGE|COUNTER)$/ } @{ $q->{columns} };
	is("@bad", '', "$n: every column has usage LABEL, GAUGE or COUNTER");
}

# A database with something to report
sub fill
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
CREATE EXTENSION paycons;
SELECT paycons.set_channel('mon');
SELECT paycons.create_order('mon-created', 100, 'USD');
SELECT paycons.create_order('mon-overdue', 100, 'USD', '1 millisecond');
SELECT paycons.begin_payment('mon-overdue', 'mon');
SELECT paycons.create_order('mon-paid', 100, 'USD');
SELECT paycons.begin_payment('mon-paid', 'mon');
SELECT outcome FROM paycons.apply_callback('mon', 'T1', 'mon-paid', 'payment', 'success', 100, 'USD');
SELECT paycons.create_order('mon-review', 100, 'USD');
SELECT paycons.begin_payment('mon-review', 'mon');
SELECT outcome FROM paycons.apply_callback('mon', 'T2', 'mon-review', 'payment', 'success', 60, 'USD');
SELECT outcome FROM paycons.apply_callback('mon', 'T3', 'mon-nosuch', 'payment', 'success', 5, 'USD');
SELECT paycons.set_retry_policy('mon-doomed', '1 millisecond', 1.0, '1 millisecond', 1, 0, '{}');
CREATE FUNCTION public.doomed(text, jsonb) RETURNS void LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'no'; END$$;
SELECT paycons.enqueue_compensation('mon-created', 'mon-doomed', 'public.doomed(text,jsonb)');
SELECT paycons.run_maintenance();
CREATE ROLE paycons_monitor LOGIN;
SELECT paycons.grant_monitor_role('paycons_monitor');
});
}

# Run every query as the monitoring role and check its columns and values
sub check_queries
{
	my ($node, $label) = @_;
	for my $n (@$names)
	{
		my $q = $queries->{$n};
		my ($out, $err) = ('', '');
		$node->psql('postgres',
			"SET ROLE paycons_monitor;\n\\pset tuples_only off\n\\pset footer off\n$q->{query};",
			stdout => \$out, stderr => \$err);
		is($err, '', "$label: $n runs as the monitoring role");
		my @lines = split /\n/, $out;
		my $header = shift(@lines) // '';
		is($header, join('|', @{ $q->{columns} }), "$label: $n returns the declared columns");
		ok(@lines >= 1, "$label: $n returns " . scalar(@lines) . " row(s)");
		my @problems;
		for my $row (@lines)
		{
			my @v = split /\|/, $row, -1;
			for my $i (0 .. $#{ $q->{columns} })
			{
				my $c = $q->{columns}[$i];
				my $u = $q->{usage}{$c};
				my $val = $v[$i] // '';
				push @problems, "$c='$val'"
				  if ($u eq 'LABEL' && $val eq '')
				  || ($u ne 'LABEL' && $val ne '' && $val !~ /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/i);
			}
		}
		is("@problems", '', "$label: $n values fit their usage");
	}
}

# 1. preloaded, the database served by a worker
my $node = PostgreSQL::Test::Cluster->new('exporter');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'paycons'
paycons.database = 'postgres'
paycons.naptime = '1h'
});
$node->start;
fill($node);
check_queries($node, 'preloaded');

# the figures the dashboards read are the ones the data implies
is($node->safe_psql('postgres', q{SET ROLE paycons_monitor;
SELECT orders_paying_overdue, orders_needs_review, compensations_dead FROM paycons.health}),
	'1|1|1', 'overdue paying, needs_review and dead compensation counted');
is($node->safe_psql('postgres', q{SET ROLE paycons_monitor;
SELECT string_agg(outcome || '=' || callbacks, ',' ORDER BY outcome) FROM paycons.callback_outcomes('1 hour') WHERE callbacks > 0}),
	'amount_mismatch=1,applied=1,unknown_order=1', 'callback outcomes of the last hour');
is($node->safe_psql('postgres', q{SET ROLE paycons_monitor;
SELECT worker_status, served, passes >= 1 FROM paycons.stats()}),
	'running|t|t', 'worker status, and the pass run by hand is counted');

# the monitoring role reads no table
my ($out, $err) = ('', '');
$node->psql('postgres', 'SET ROLE paycons_monitor; SELECT count(*) FROM paycons.callbacks',
	stdout => \$out, stderr => \$err);
like($err, qr/permission denied for table callbacks/, 'the monitoring role cannot read the inbox');
$node->stop;

# 2. without preload
my $plain = PostgreSQL::Test::Cluster->new('exporter_plain');
$plain->init;
$plain->start;
fill($plain);
check_queries($plain, 'not preloaded');
is($plain->safe_psql('postgres', q{SET ROLE paycons_monitor;
SELECT worker_status, preloaded, served IS NULL, passes IS NULL FROM paycons.stats()}),
	'not preloaded|f|t|t', 'without preload: no worker, counters unknown (NULL)');
$plain->stop;

done_testing();
