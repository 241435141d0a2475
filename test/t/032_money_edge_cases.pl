# The three money defects that paycons.verify() and the soak found (issue
# 12, "every cent accounted"), once TODO tests, now ordinary ones: every
# cent in is applied, refunded, or waiting in review, and no order is
# stuck.  See doc/reliability.md, "Findings", and the regress test
# money_edge_cases for the same cases with replays and bad input.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('money_edges');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION paycons;
SELECT paycons.set_channel('kb', ack => 'ok');
SELECT paycons.create_order('kb-late', 1000, 'CNY');
SELECT paycons.create_order('kb-over', 1000, 'CNY');
SELECT paycons.begin_payment('kb-over', 'kb');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM paycons.verify()'), '0', 'clean to start with');

sub q1 { return $node->safe_psql('postgres', shift); }

# 1. cancelled, then paid in another currency, then refunded in that
# currency: the order stays cancelled, the foreign money goes back through
# its own refund compensation, which the refund completes.
q1(q{
SELECT paycons.transition('kb-late', 'cancelled', 'customer left');
SELECT paycons.apply_callback('kb', 'KB-1', 'kb-late', 'payment', 'success', 150, 'USD');
});
is(q1(q{SELECT outcome || ' ' || state FROM paycons.callbacks WHERE channel_txn_id = 'KB-1'}),
	'late_payment cancelled', 'a late payment in another currency leaves the order cancelled');
is(q1(q{SELECT action || ' ' || state || ' ' || (args->>'amount') || ' ' || (args->>'currency')
          FROM paycons.compensations WHERE order_id = 'kb-late'}),
	'refund:KB-1 waiting_external 150 USD', 'and asks for its refund in its currency');
is(q1(q{SELECT count(*) FROM paycons.verify() WHERE key = 'kb-late'}), '0',
	'verify() is clean while the refund is under way');
q1(q{SELECT paycons.apply_callback('kb', 'KB-R1', 'kb-late', 'refund', 'success', 150, 'USD')});
is(q1(q{SELECT state FROM paycons.compensations WHERE order_id = 'kb-late'}),
	'done', 'the refund of the foreign late payment is done');
is(q1(q{SELECT state || ' ' || paid_amount || ' ' || refunded_amount FROM paycons.orders WHERE order_id = 'kb-late'}),
	'cancelled 0 0', 'the order ends cancelled, its amounts untouched');
is(q1(q{SELECT string_agg(to_state::text, ',' ORDER BY id) FROM paycons.order_history WHERE order_id = 'kb-late'}),
	'created,cancelled', 'no refunding edge without money of its currency');
is(q1(q{SELECT count(*) FROM paycons.verify() WHERE key = 'kb-late'}), '0',
	'verify() is clean once the money is back');

# 2. an over-refund sends a paid order to review: refund has nothing to
# give back and says so; close ends the review, the loss recorded
q1(q{
SELECT paycons.apply_callback('kb', 'KB-2', 'kb-over', 'payment', 'success', 1000, 'CNY');
SELECT paycons.apply_callback('kb', 'KB-R2', 'kb-over', 'refund', 'success', 1500, 'CNY');
});
is(q1(q{SELECT state FROM paycons.orders WHERE order_id = 'kb-over'}),
	'needs_review', 'the over-refund sends the order to review');
for my $decision (qw(accept refund accept_and_refund))
{
	my ($rc, $out, $err) = $node->psql('postgres',
		qq{SELECT paycons.resolve_review('kb-over', '$decision', 'over-refunded by the channel')});
	like($err, qr/cannot \Q$decision\E order "kb-over".*refunded 1500 CNY of the 1000 CNY/s,
		"$decision is refused, saying what the channel returned");
}
is(q1(q{SELECT state || ' ' || paid_amount || ' ' || refunded_amount
          FROM paycons.resolve_review('kb-over', 'close', 'channel over-refunded 500, loss accepted')}),
	'refunded 1000 1500', 'close ends the review: all the money is back, the order is refunded');
is(q1(q{SELECT string_agg(from_state || '>' || to_state || ' ' || reason, ', ' ORDER BY id)
          FROM paycons.order_history WHERE order_id = 'kb-over' AND from_state::text IN ('needs_review', 'refunding')}),
	'needs_review>refunding review close: channel over-refunded 500, loss accepted, '
	  . 'refunding>refunded review close: channel over-refunded 500, loss accepted',
	'two history rows with the reason');
is(q1(q{SELECT string_agg(event_type, ',' ORDER BY id) FROM paycons.outbox
         WHERE aggregate_id = 'kb-over' AND event_type IN ('order.refunding', 'order.refunded')}),
	'order.refunding,order.refunded', 'and their events');
is(q1(q{SELECT count(*) FROM paycons.compensations WHERE order_id = 'kb-over'}), '0',
	'nothing is asked back from anybody');

# 3. a review refund after an over-refund does not return the money twice
q1(q{
SELECT paycons.create_order('kb-twice', 1000, 'CNY');
SELECT paycons.begin_payment('kb-twice', 'kb');
SELECT paycons.apply_callback('kb', 'KB-3', 'kb-twice', 'payment', 'success', 997, 'CNY');
SELECT paycons.apply_callback('kb', 'KB-R3', 'kb-twice', 'refund', 'success', 1000, 'CNY');
});
is(q1(q{SELECT paid_amount || '/' || refunded_amount FROM paycons.orders WHERE order_id = 'kb-twice'}),
	'0/1000', 'the channel returned 1000 before the 997 were taken');
is(q1(q{SELECT state || ' ' || paid_amount || ' ' || refunded_amount
          FROM paycons.resolve_review('kb-twice', 'refund', 'give it back')}),
	'refunded 997 1000', 'the refund decision ends the order refunded');
is(q1(q{SELECT string_agg(action || ' ' || state || ' ' || (args->>'amount'), ', ' ORDER BY id)
          FROM paycons.compensations WHERE order_id = 'kb-twice'}),
	'refund:KB-3:returned done 997', 'no second refund: the 997 are recorded as returned');
is(q1(q{SELECT count(*) FROM paycons.outbox WHERE aggregate_id = 'kb-twice' AND event_type = 'refund.request'}),
	'0', 'no refund request was sent');

# the same, the other way round: the review refunds first, then the
# channel's own refund of 1000 arrives; the refund asked for is settled by
# the next decision and never asked again
q1(q{
SELECT paycons.create_order('kb-after', 1000, 'CNY');
SELECT paycons.begin_payment('kb-after', 'kb');
SELECT paycons.apply_callback('kb', 'KB-4', 'kb-after', 'payment', 'success', 997, 'CNY');
SELECT paycons.resolve_review('kb-after', 'refund', 'short payment');
SELECT paycons.apply_callback('kb', 'KB-R4', 'kb-after', 'refund', 'success', 1000, 'CNY');
});
is(q1(q{SELECT state || ' ' || paid_amount || ' ' || refunded_amount FROM paycons.orders WHERE order_id = 'kb-after'}),
	'needs_review 997 1000', 'the over-refund sends the refunding order back to review');
is(q1(q{SELECT state || ' ' || paid_amount || ' ' || refunded_amount
          FROM paycons.resolve_review('kb-after', 'close', 'the channel refunded 3 too many')}),
	'refunded 997 1000', 'close ends it refunded');
is(q1(q{SELECT action || ' ' || state FROM paycons.compensations WHERE order_id = 'kb-after'}),
	'refund:KB-4 done', 'the refund asked for is settled as returned');
is(q1(q{SELECT detail FROM paycons.compensations WHERE order_id = 'kb-after'}),
	'returned by the channel already: refunded_amount 1000 of paid_amount 997 CNY when review close settled it',
	'with what settled it');

is(q1('SELECT count(*) FROM paycons.verify()'), '0', 'verify() is clean at the end');
is(q1(q{SELECT count(*) FROM paycons.orders WHERE state::text IN ('refunding', 'needs_review')}), '0',
	'no order is left refunding or in review');

$node->stop;
done_testing();
