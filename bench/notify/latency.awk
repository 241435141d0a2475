# latency.awk -- consumer wake-up latency, per commit: the time from the
# commit returning to the writer (pgbench -l: time_epoch and time_us of
# each transaction, i.e. when it completed) to the next notification the
# LISTENer received (listener.c: receive time in microseconds).  A
# consumer woken at that moment looks at the outbox after the commit, so
# it finds the event.
#
#   awk -f latency.awk -v from=US NOTIFICATIONS PGBENCH_LOG...
#
# Only notifications received at or after "from" (microseconds since the
# epoch) count; the first file is always the notifications, even empty.
# With -v raw=1 it prints each commit's latency in ms, one per line;
# otherwise: commits notifications p50_ms p99_ms max_ms missing early.
#
# The NOTIFY that covers a commit can reach the LISTENer before the
# writer's client sees its COMMIT return (the commit is visible, and the
# notifier woken, before the server answers): the next notification after
# the return is then a later one, so the latency measured is an upper
# bound.  At the end of a run there may be no later one: a commit with no
# notification after it but one at most "grace" microseconds (default
# 10000: on a loaded machine the writer's client may see its COMMIT return
# milliseconds after the server sent it) before its return is counted as
# "early" (covered, no latency); "missing" counts commits with no
# notification after or just before.
FILENAME == ARGV[1] { if ($1 >= from) n[nn++] = $1; next }
NF >= 6 { c[nc++] = $5 * 1000000 + $6 }
END {
	# commits in time order (pgbench logs are per thread): heap sort
	for (i = int(nc / 2) - 1; i >= 0; i--) sift(i, nc)
	for (end = nc - 1; end > 0; end--) { t = c[0]; c[0] = c[end]; c[end] = t; sift(0, end) }
	if (grace == "") grace = 10000
	j = 0; missing = 0; early = 0; m = 0
	for (i = 0; i < nc; i++) {
		while (j < nn && n[j] < c[i]) j++
		if (j == nn) {
			if (nn > 0 && n[nn - 1] >= c[i] - grace) early++; else missing++
			continue
		}
		lat[m++] = (n[j] - c[i]) / 1000.0
	}
	if (raw) {
		for (i = 0; i < m; i++) printf "%.3f\n", lat[i]
		exit
	}
	for (i = int(m / 2) - 1; i >= 0; i--) siftl(i, m)
	for (end = m - 1; end > 0; end--) { t = lat[0]; lat[0] = lat[end]; lat[end] = t; siftl(0, end) }
	if (m == 0) { printf "%d %d - - - %d %d\n", nc, nn, missing, early; exit }
	printf "%d %d %.2f %.2f %.2f %d %d\n", nc, nn, lat[int(m * 0.50)], lat[int(m * 0.99)], lat[m - 1], missing, early
}
function sift(root, len,    child, t) {
	while ((child = 2 * root + 1) < len) {
		if (child + 1 < len && c[child] < c[child + 1]) child++
		if (c[root] >= c[child]) return
		t = c[root]; c[root] = c[child]; c[child] = t; root = child
	}
}
function siftl(root, len,    child, t) {
	while ((child = 2 * root + 1) < len) {
		if (child + 1 < len && lat[child] < lat[child + 1]) child++
		if (lat[root] >= lat[child]) return
		t = lat[root]; lat[root] = lat[child]; lat[child] = t; root = child
	}
}
