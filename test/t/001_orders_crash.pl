# Crash safety of the order hub: orders, their states and their history
# are written in one transaction, so after an immediate shutdown (a crash:
# no checkpoint, WAL replay on restart) every committed change is there
# with its history row, and nothing from an uncommitted transaction is.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'paycons'");
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION paycons');
$node->safe_psql('postgres', q{
	SELECT count(paycons.create_order('c-' || g, 100 + g, 'USD')) FROM generate_series(1, 200) g;
	SELECT count(paycons.begin_payment('c-' || g, 'alipay')) FROM generate_series(1, 150) g;
	SELECT count(paycons.transition('c-' || g, 'paid', 'crash test')) FROM generate_series(1, 100) g;
});

# An open transaction that moves more orders when the server dies.
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT count(paycons.transition('c-' || g, 'paid', 'crash test')) FROM generate_series(101, 150) g});

$node->stop('immediate');
$open->quit;
$node->start;

is($node->safe_psql('postgres', q{SELECT state::text, count(*) FROM paycons.orders GROUP BY 1 ORDER BY 1}),
	"created|50\npaid|100\npaying|50",
	'committed states survived the crash, the open transaction did not');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM paycons.orders o
	 WHERE o.state::text IS DISTINCT FROM
	       (SELECT h.to_state::text FROM paycons.order_history h
	         WHERE h.order_id = o.order_id ORDER BY h.id DESC LIMIT 1)}),
	'0', 'every order\'s state equals its last history row');

is($node->safe_psql('postgres', q{SELECT count(*) FROM paycons.order_history}),
	'450', 'one history row per committed change (200 + 150 + 100)');

# The guard still refuses illegal edges after recovery.
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{UPDATE paycons.orders SET state = 'created' WHERE order_id = 'c-1'});
like($stderr, qr/illegal order state transition from "paid" to "created"/,
	'guard active after recovery');

$node->stop;
done_testing();
