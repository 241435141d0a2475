# PayconsStorm.pm -- a storm of payment callbacks for the fault tests
# (030_crash_storm.pl, 031_failover_storm.pl).
#
# The storm: N orders (a tenth of them stuck: their payment deadline passes
# during the storm, so the worker closes them and their money arrives
# late); for each order its payment, and for some a failure notice, a
# second payment, a mismatched amount and a top-up, a refund (before or
# after the payment), a conflicting variant of the payment; a few
# callbacks for orders that do not exist.  Every callback is sent once,
# and replays of callbacks already sent are mixed in (30% of all sends),
# the whole list shuffled and dealt to 8 clients.
#
# Each client is one psql running a script, one apply_callback per
# autocommit transaction, its answers written to a file.  psql prints an
# answer only after the server's CommandComplete, which a backend sends
# after its transaction committed: an answer in the file is a callback
# whose effects committed ("answered").  When the server dies, psql stops;
# the callback after the last answer may have been in flight ("sent, not
# answered").
#
# A consumer (one psql running a DO loop) claims events, logs each one in
# the table "delivered" and acknowledges it in the same transaction, nacks
# 3% of them, and answers refund.request commands with the channel's
# refund callback.  So after the storm every event is in "delivered" or
# still in the outbox, and the tests can check that every state change has
# exactly one order.<state> event.
package PayconsStorm;

use strict;
use warnings;
use IPC::Run;
use List::Util qw(shuffle);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

# new(name => ..., orders => N, clients => 8, seed => S, dir => tempdir)
sub new
{
	my ($class, %opt) = @_;
	my $self = {
		orders  => $opt{orders}  // 2000,
		clients => $opt{clients} // 8,
		seed    => $opt{seed}    // time(),
		dir     => $opt{dir}     // PostgreSQL::Test::Utils::tempdir(),
		sends   => [],    # every send: [callback index]
		cbs     => [],    # unique callbacks: {txn, order, kind, status, amount, variant}
		answers => {},    # send index -> [outcome, duplicate, state, phase]
		sent    => {},    # send index -> phase in which it was sent
		phase   => 0,
	};
	bless $self, $class;
	srand($self->{seed});
	$self->_build;
	return $self;
}

# The unique callbacks and the shuffled sends with 30% replays.
sub _build
{
	my ($self) = @_;
	my @cbs;
	my $add = sub {
		my ($txn, $order, $kind, $status, $amount, $variant) = @_;
		push @cbs,
		  {
			txn     => $txn,
			order   => $order,
			kind    => $kind,
			status  => $status,
			amount  => $amount,
			variant => $variant // 0
		  };
	};
	for my $g (1 .. $self->{orders})
	{
		my $o   = "o-$g";
		my $amt = 1000 + $g;
		my $r   = $g % 20;
		if ($r == 5 || $r == 15)
		{
			# mismatched money: short by 7, and for half of them a top-up
			$add->("P-$g", $o, 'payment', 'success', $amt - 7);
			$add->("Q-$g", $o, 'payment', 'success', 7) if $r == 5;
		}
		else
		{
			$add->("P-$g", $o, 'payment', 'success', $amt);
		}
		$add->("F-$g", $o, 'payment', 'failed',  $amt) if $r == 1 || $r == 11;
		$add->("D-$g", $o, 'payment', 'success', $amt) if $r == 2 || $r == 12;
		$add->("R-$g", $o, 'refund',  'success', $amt) if $r == 4 || $r == 14 || $r == 8;
		# the same key with other facts: a conflict (or it decides first,
		# and the real one is the conflict)
		$add->("P-$g", $o, 'payment', 'success', $amt + 1, 1) if $g % 50 == 9;
	}
	for my $u (1 .. int($self->{orders} / 100) + 1)
	{
		$add->("U-$u", "nobody-$u", 'payment', 'success', 500);
	}
	$self->{cbs} = \@cbs;

	# 30% of the sends replay a callback sent earlier in the list
	my @order = shuffle(0 .. $#cbs);
	my @sends;
	for my $i (@order)
	{
		push @sends, $i;
		# geometric: 0.3 / 0.7 replays per callback on average, so that
		# 30% of all sends are replays
		push @sends, $sends[ int(rand(@sends)) ] while rand() < 0.3;
	}
	$self->{sends} = \@sends;
	return;
}

# The SQL of one send, answering "<send index>|outcome|duplicate|state".
sub _send_sql
{
	my ($self, $s) = @_;
	my $c = $self->{cbs}[ $self->{sends}[$s] ];
	return sprintf(
		"SELECT %d, outcome, duplicate, COALESCE(state::text, '') FROM paycons.apply_callback('tap', '%s', '%s', '%s', '%s', %d, 'CNY');\n",
		$s, $c->{txn}, $c->{order}, $c->{kind}, $c->{status}, $c->{amount});
}

# setup_sql(stuck_within): the schema of the storm (run once, on the
# primary); stuck orders must be paid within stuck_within.
sub setup_sql
{
	my ($self, $stuck_within) = @_;
	my $n = $self->{orders};
	return qq{
CREATE EXTENSION IF NOT EXISTS paycons;
SELECT paycons.set_channel('tap', ack => 'success');
SELECT count(paycons.add_stock('sku-' || g, 1000000)) FROM generate_series(1, 5) g;
SELECT count(paycons.create_order('o-' || g, 1000 + g, 'CNY',
              CASE WHEN g % 10 = 3 THEN interval '$stuck_within' ELSE interval '1 hour' END))
  FROM generate_series(1, $n) g;
SELECT count(paycons.begin_payment('o-' || g, 'tap')) FROM generate_series(1, $n) g WHERE g % 7 <> 0;
SELECT count(paycons.reserve_stock('o-' || g,
              jsonb_build_array(jsonb_build_object('sku', 'sku-' || (g % 5 + 1), 'quantity', 1 + g % 3))))
  FROM generate_series(1, $n) g WHERE g % 4 = 0;
CREATE TABLE delivered (
    id bigint PRIMARY KEY, aggregate_id text NOT NULL, event_type text NOT NULL,
    created_at timestamptz NOT NULL, deliveries int NOT NULL DEFAULT 1);
CREATE TABLE consumer_ctl (stop boolean NOT NULL);
INSERT INTO consumer_ctl VALUES (false);
-- one consumer pass: claim, log and ack (or nack) in the caller's transaction
CREATE FUNCTION tap_consume(consumer text, nack_rate float8) RETURNS int
LANGUAGE plpgsql AS \$\$
DECLARE
    r record;
    n int := 0;
BEGIN
    FOR r IN SELECT * FROM paycons.outbox_claim(consumer, 50, '2 seconds') LOOP
        n := n + 1;
        IF random() < nack_rate THEN
            PERFORM paycons.outbox_nack(r.id, 'tap nack', '50 milliseconds', consumer);
            CONTINUE;
        END IF;
        INSERT INTO delivered AS d (id, aggregate_id, event_type, created_at)
        VALUES (r.id, r.aggregate_id, r.event_type, r.created_at)
        ON CONFLICT (id) DO UPDATE SET deliveries = d.deliveries + 1;
        IF r.event_type = 'refund.request' THEN
            -- the channel gives the money back and says so
            PERFORM paycons.apply_callback('tap', 'CR-' || (r.payload->>'compensation_id'),
                                           r.aggregate_id, 'refund', 'success',
                                           (r.payload->'args'->>'amount')::bigint,
                                           r.payload->'args'->>'currency');
        END IF;
        PERFORM paycons.outbox_ack(ARRAY[r.id], consumer);
    END LOOP;
    RETURN n;
END
\$\$;
};
}

# The consumer loop run by the background consumer.
sub _consumer_sql
{
	return q{
DO $$
BEGIN
    LOOP
        IF tap_consume('tap-consumer', 0.03) = 0 THEN
            COMMIT;
            EXIT WHEN (SELECT stop FROM consumer_ctl);
            PERFORM pg_sleep(0.02);
        END IF;
        COMMIT;
    END LOOP;
END
$$;
};
}

# start_phase(node, sends): start the clients on the given send indexes
# (dealt round-robin) and the consumer; returns the phase number.
sub start_phase
{
	my ($self, $node, $sends, $mark) = @_;
	my $phase = ++$self->{phase};
	my $dir   = $self->{dir};
	my @h;
	my @per = map { [] } 1 .. $self->{clients};
	push @{ $per[ $_ % $self->{clients} ] }, $sends->[$_] for 0 .. $#$sends;
	my $connstr = $node->connstr('postgres');
	$self->{mark} = defined $mark ? "$dir/p$phase-mark" : undef;
	$self->{phase_start} = time();
	for my $k (0 .. $self->{clients} - 1)
	{
		my $f = "$dir/p$phase-c$k";
		my @mine = @{ $per[$k] };
		my $at = defined $mark ? int($mark * @mine) : -1;
		open my $fh, '>', "$f.sql" or die "$f.sql: $!";
		for my $i (0 .. $#mine)
		{
			# the first client to get this far leaves the mark
			print $fh "\\! touch '$self->{mark}'\n" if $i == $at;
			print $fh $self->_send_sql($mine[$i]);
		}
		close $fh;
		push @h,
		  IPC::Run::start(
			[ 'psql', '-X', '-A', '-t', '-q', '-d', $connstr, '-f', "$f.sql", '-o', "$f.out" ],
			'<', \undef, '>', "$f.stdout", '2>', "$f.err");
	}
	$self->{per}       = \@per;
	$self->{clients_h} = \@h;
	$node->safe_psql('postgres', 'UPDATE consumer_ctl SET stop = false');
	$self->{consumer_h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $connstr, '-c', _consumer_sql() ],
		'<', \undef, '>', "$dir/p$phase-consumer.out", '2>', "$dir/p$phase-consumer.err");
	return $phase;
}

# Are the clients of the phase all done?
sub clients_done
{
	my ($self) = @_;
	for my $h (@{ $self->{clients_h} })
	{
		for my $kid (@{ $h->{KIDS} })
		{
			# running unless gone or a zombie (finish() reaps it)
			open(my $fh, '<', "/proc/$kid->{PID}/stat") or next;
			my $stat = <$fh>;
			close $fh;
			return 0 if defined $stat && $stat !~ /^\d+ \(.*\) Z /;
		}
	}
	return 1;
}

# wait_mark(timeout): wait until a client of the phase has sent the
# fraction of its sends that start_phase's "mark" named (a client leaves a
# file there: the moment does not depend on the machine's speed, and
# looking for a file is quick enough not to miss it), the clients are
# done, or timeout seconds have passed.  True if the mark was reached.
sub wait_mark
{
	my ($self, $timeout) = @_;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		return 1 if -e $self->{mark};
		last if $self->clients_done;
		usleep(2_000);
	}
	return -e $self->{mark} ? 1 : 0;
}

# finish_phase(): wait for the clients (they end by themselves, or because
# the server died), then read their answers.  Returns the number of sends
# answered in this phase.
sub finish_phase
{
	my ($self, %opt) = @_;
	my $phase = $self->{phase};
	my $dir   = $self->{dir};
	for my $h (@{ $self->{clients_h} })
	{
		eval { $h->finish; };
	}
	if ($opt{stop_consumer})
	{
		# the consumer leaves its loop at the next idle turn
		$opt{node}->safe_psql('postgres', 'UPDATE consumer_ctl SET stop = true');
	}
	eval { $self->{consumer_h}->finish; };
	my $answered = 0;
	for my $k (0 .. $self->{clients} - 1)
	{
		my $f     = "$dir/p$phase-c$k";
		my $lines = -e "$f.out" ? slurp_file("$f.out") : '';
		my $n     = 0;
		for my $line (split /\n/, $lines)
		{
			next if $line eq '';
			my ($s, $outcome, $dup, $state) = split /\|/, $line, -1;
			die "bad answer line '$line' in $f.out" unless defined $state;
			# the first answer of a send is the one that counts
			$self->{answers}{$s} //= [ $outcome, $dup, $state, $phase ];
			$self->{last_answer}{$s} = [ $outcome, $dup, $state, $phase ];
			$self->{sent}{$s} //= $phase;
			$n++;
		}
		# the send after the last answer may have been in flight
		my $list = $self->{per}[$k];
		if ($n < @$list)
		{
			$self->{sent}{ $list->[$n] } //= $phase;
			$self->{inflight}{ $list->[$n] } = 1 unless exists $self->{answers}{ $list->[$n] };
		}
		$answered += $n;
		$self->{unsent_after}{$phase} //= [];
		push @{ $self->{unsent_after}{$phase} }, @$list[ $n + 1 .. $#$list ] if $n + 1 <= $#$list;
	}
	return $answered;
}

# crash(node): SIGKILL the postmaster and every process it started, at the
# same instant (what a machine losing its PostgreSQL processes does; the
# WAL the server wrote is in the OS cache and survives, fsync or not).
sub crash
{
	my ($self, $node) = @_;
	my $pm = $node->{_pid};
	my @kids;
	opendir(my $d, '/proc') or die "/proc: $!";
	for my $p (grep { /^\d+$/ } readdir $d)
	{
		open(my $fh, '<', "/proc/$p/stat") or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat && $stat =~ /^\d+ \(.*\) \S (\d+)/;
		push @kids, $p if $1 == $pm;
	}
	closedir $d;
	kill 'KILL', $pm, @kids;
	$node->{_pid} = undef;
	# wait until every one of them is gone
	for (1 .. 500)
	{
		last unless grep { kill 0, $_ } $pm, @kids;
		usleep(10_000);
	}
	return scalar(@kids);
}

# check_redeliveries(sends, phase): of the sends re-delivered in phase,
# those answered in an earlier phase must answer the same outcome again, as
# duplicates.  Returns (how many were checked, how many answered otherwise);
# the first five of these are printed.
sub check_redeliveries
{
	my ($self, $sends, $phase) = @_;
	my ($n, $bad) = (0, 0);
	for my $s (@$sends)
	{
		my $first = $self->{answers}{$s};
		my $last  = $self->{last_answer}{$s};
		next unless $first && $last && $first->[3] < $phase;
		$n++;
		if ($last->[0] ne $first->[0] || $last->[1] ne 't')
		{
			$bad++;
			Test::More::diag("send $s first answered $first->[0]/$first->[1], re-delivered $last->[0]/$last->[1]")
			  if $bad <= 5;
		}
	}
	return ($n, $bad);
}

# The sends not yet answered: the in-flight ones and those never started.
sub remaining_sends
{
	my ($self) = @_;
	my $phase = $self->{phase};
	my @r = grep { !exists $self->{answers}{$_} } keys %{ $self->{inflight} // {} };
	push @r, @{ $self->{unsent_after}{$phase} // [] };
	$self->{inflight}     = {};
	$self->{unsent_after} = {};
	return [ shuffle(@r) ];
}

# Every send that was sent (answered or not), for re-delivery.
sub sent_sends
{
	my ($self) = @_;
	return [ shuffle(sort { $a <=> $b } keys %{ $self->{sent} }) ];
}

# answered_before(phase): sends answered in phases before "phase"
sub answered_before
{
	my ($self, $phase) = @_;
	return grep { $self->{answers}{$_}[3] < $phase } keys %{ $self->{answers} };
}

# check_answers(node, label, phase): every send answered before "phase"
# is stored with the outcome it was answered: its inbox row (or, for a
# conflict, its variant in callback_conflicts).  Returns the count of
# mismatches, with the first few printed.
sub check_answers
{
	my ($self, $node, $label, $phase) = @_;
	my $rows = $node->safe_psql('postgres',
		q{SELECT channel_txn_id, order_id, amount, outcome FROM paycons.callbacks WHERE channel = 'tap'});
	my %stored;
	for (split /\n/, $rows)
	{
		my ($t, $o, $a, $out) = split /\|/;
		$stored{$t} = [ $o, $a, $out ];
	}
	my $crows = $node->safe_psql('postgres',
		q{SELECT channel_txn_id || '/' || amount FROM paycons.callback_conflicts});
	my %conflict = map { $_ => 1 } split /\n/, $crows;

	my ($bad, $checked) = (0, 0);
	for my $s ($self->answered_before($phase))
	{
		my ($outcome) = @{ $self->{answers}{$s} };
		my $c = $self->{cbs}[ $self->{sends}[$s] ];
		my $ok;
		if ($outcome eq 'conflict')
		{
			$ok = $conflict{"$c->{txn}/$c->{amount}"};
		}
		else
		{
			my $st = $stored{ $c->{txn} };
			$ok = $st && $st->[0] eq $c->{order} && $st->[1] == $c->{amount} && $st->[2] eq $outcome;
		}
		$checked++;
		unless ($ok)
		{
			$bad++;
			diag("$label: send $s ($c->{txn} $c->{order} $c->{amount}) answered $outcome, stored "
				  . join('/', @{ $stored{ $c->{txn} } // ['nothing'] }))
			  if $bad <= 5;
		}
	}
	return ($checked, $bad);
}

# drain(node, seconds): consume (without nacks) until the outbox is empty.
sub drain
{
	my ($self, $node, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		$node->safe_psql('postgres', q{SELECT tap_consume('tap-drain', 0)});
		return 1
		  if $node->safe_psql('postgres', q{SELECT count(*) FROM paycons.outbox}) == 0;
		usleep(100_000);
	}
	return 0;
}

# The event accounting: each history row of paycons.orders has exactly one
# order.<state> event, delivered (logged by the consumer when it acked) or
# still in the outbox.  Returns the number of mismatching (order, state,
# time) groups.
sub event_mismatches
{
	my ($self, $node) = @_;
	return $node->safe_psql('postgres', q{
WITH h AS (SELECT order_id, 'order.' || to_state::text AS t, at, count(*) AS n
             FROM paycons.order_history WHERE table_name = 'paycons.orders' GROUP BY 1, 2, 3),
     e AS (SELECT aggregate_id AS order_id, event_type AS t, created_at AS at, count(*) AS n
             FROM (SELECT aggregate_id, event_type, created_at FROM delivered
                   UNION ALL
                   SELECT aggregate_id, event_type, created_at FROM paycons.outbox
                    WHERE aggregate_type = 'order') x
            WHERE event_type LIKE 'order.%' GROUP BY 1, 2, 3)
SELECT count(*) FROM h FULL JOIN e ON e.order_id = h.order_id AND e.t = h.t AND e.at = h.at
 WHERE h.n IS DISTINCT FROM e.n});
}

1;
