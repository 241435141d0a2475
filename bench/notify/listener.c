/*-------------------------------------------------------------------------
 *
 * listener.c
 *	  A LISTEN client for the notification benchmark: connects (libpq,
 *	  the usual PG* environment), LISTENs on paycons_outbox and writes one
 *	  line per notification received -- the receive time in microseconds
 *	  since the epoch and the sender's pid -- until SIGTERM or SIGINT.
 *
 *	  listener DBNAME OUTFILE
 *
 * It prints "listening" on stdout once the LISTEN is in place, and the
 * number of notifications on stderr when it stops.  Build:
 *	  cc -O2 -o listener listener.c -I$(pg_config --includedir) -L$(pg_config --libdir) -lpq
 *
 * IDENTIFICATION
 *	  bench/notify/listener.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>

#include <libpq-fe.h>

static volatile sig_atomic_t stop = 0;

static void
on_signal(int signo)
{
	stop = 1;
}

static long long
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

int
main(int argc, char **argv)
{
	const char *keywords[] = {"dbname", NULL};
	const char *values[] = {NULL, NULL};
	PGconn	   *conn;
	PGresult   *res;
	FILE	   *out;
	long		count = 0;
	struct sigaction sa;

	if (argc != 3)
	{
		fprintf(stderr, "usage: %s DBNAME OUTFILE\n", argv[0]);
		return 2;
	}
	values[0] = argv[1];
	conn = PQconnectdbParams(keywords, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		return 1;
	}
	out = fopen(argv[2], "w");
	if (out == NULL)
	{
		fprintf(stderr, "cannot open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	res = PQexec(conn, "LISTEN paycons_outbox");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "LISTEN failed: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("listening\n");
	fflush(stdout);

	while (!stop)
	{
		int			sock = PQsocket(conn);
		fd_set		fds;
		struct timeval timeout = {0, 200000};
		PGnotify   *n;

		FD_ZERO(&fds);
		FD_SET(sock, &fds);
		if (select(sock + 1, &fds, NULL, NULL, &timeout) < 0)
		{
			if (errno == EINTR)
				continue;
			fprintf(stderr, "select failed: %s\n", strerror(errno));
			return 1;
		}
		if (!PQconsumeInput(conn))
		{
			fprintf(stderr, "connection lost: %s", PQerrorMessage(conn));
			return 1;
		}
		while ((n = PQnotifies(conn)) != NULL)
		{
			fprintf(out, "%lld %d\n", now_us(), n->be_pid);
			count++;
			PQfreemem(n);
		}
		fflush(out);			/* the runner reads the file while we run */
	}
	fclose(out);
	fprintf(stderr, "%ld notifications\n", count);
	PQfinish(conn);
	return 0;
}
