#!/usr/bin/python3
"""outbox_consumer.py -- a small paycons outbox consumer (psycopg2).

Waits on LISTEN paycons_outbox (one notification per committing
transaction that wrote events), then claims batches, "handles" each event
and acknowledges it.  A handler failure is reported with outbox_nack, so
the event is retried with backoff and, after the retry policy's last
attempt, dead-lettered.  A timeout on the wait makes the loop poll anyway,
so a notification sent while the consumer was busy or down is never needed
for progress: events wait in the table, not in the notification queue.

Usage: outbox_consumer.py CONSUMER_NAME [--until-empty] [--fail-type TYPE]
Connection parameters come from the usual libpq environment (PGHOST, ...).
Prints one line per handled event: "<consumer> <id> <aggregate> <type>".
"""
import argparse
import select
import sys

import psycopg2
import psycopg2.extensions

BATCH = 100
LEASE = "30 seconds"
POLL = 0.2                               # seconds between polls without NOTIFY


def handle(event, fail_type):
    """The application's work.  Raise to make the event retry."""
    if event["event_type"] == fail_type:
        raise RuntimeError("handler refuses %s" % fail_type)


def drain(conn, name, fail_type, out):
    """Claim and process until nothing is due; returns how many events were
    processed (acknowledged or nacked)."""
    handled = 0
    while True:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, aggregate_type, aggregate_id, event_type, payload"
                "  FROM paycons.outbox_claim(%s, %s, %s)",
                (name, BATCH, LEASE))
            cols = [d[0] for d in cur.description]
            events = [dict(zip(cols, row)) for row in cur.fetchall()]
        conn.commit()                    # the lease is ours from here on
        if not events:
            return handled
        done = []
        for ev in events:
            try:
                handle(ev, fail_type)
            except Exception as exc:     # report it: retry later
                with conn.cursor() as cur:
                    cur.execute("SELECT paycons.outbox_nack(%s, %s, NULL, %s)",
                                (ev["id"], str(exc), name))
                conn.commit()
                handled += 1             # progress: keep polling
                continue
            done.append(ev["id"])
            out.write("%s %d %s %s\n" % (name, ev["id"], ev["aggregate_id"],
                                          ev["event_type"]))
        with conn.cursor() as cur:
            cur.execute("SELECT paycons.outbox_ack(%s::bigint[], %s)", (done, name))
        conn.commit()
        handled += len(done)
        out.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--until-empty", action="store_true",
                    help="exit once the outbox has nothing due and no notification came for 2 s")
    ap.add_argument("--fail-type", default=None,
                    help="event type whose handler always fails")
    args = ap.parse_args()

    conn = psycopg2.connect("")
    listen = psycopg2.connect("")
    listen.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    listen.cursor().execute("LISTEN paycons_outbox")

    notifications = 0
    idle = 0
    drain(conn, args.name, args.fail_type, sys.stdout)
    while True:
        # NOTIFY says "new events committed"; retries and delayed events
        # become due without one, hence the short timeout.
        ready = select.select([listen], [], [], POLL)
        if ready == ([], [], []):
            idle += 1
        else:
            idle = 0
            listen.poll()
            notifications += len(listen.notifies)
            listen.notifies.clear()
        if drain(conn, args.name, args.fail_type, sys.stdout) > 0:
            idle = 0
        if args.until_empty and idle * POLL >= 2.0:
            break
    sys.stderr.write("%s: %d notifications\n" % (args.name, notifications))
    conn.close()
    listen.close()


if __name__ == "__main__":
    main()
