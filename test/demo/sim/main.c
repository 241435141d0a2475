/*-------------------------------------------------------------------------
 *
 * main.c
 *	  paycons-sim: the payment storm of `make demo`.
 *
 *	  1. plans the day: which customers pay, late, twice, the wrong amount,
 *		 never; which notifications are lost, forged, duplicated;
 *	  2. the shop takes the orders (create_order, reserve_stock,
 *		 begin_payment) at --rate orders a second, while the customers pay
 *		 and the channels notify the webhook handler (sender threads) and
 *		 the outbox consumer works (consumer thread);
 *	  3. when the day's payments are done, the channels cut their
 *		 statements; the operator loads and reconciles them and runs
 *		 --operator-sql (resolve_review, resolve_diff) with psql;
 *	  4. the storm goes on until the database says every order is settled,
 *		 the outbox is drained and no compensation is open (the worker
 *		 closes the customers who never paid, the late payers are refunded);
 *	  5. the channels' books go into demo.channel_ledger.
 *
 *	  A progress bar (orders settled, callbacks applied, events delivered,
 *	  all read from the database) is drawn on one line when stdout is a
 *	  terminal, and printed as plain lines otherwise.  Exit status 0 when
 *	  everything settled, 2 when the storm did not settle in time.
 *
 * IDENTIFICATION
 *	  test/demo/sim/main.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

Params		params = {
	.orders = 10000,
	.rate = 500,
	.pay_within = 8,
	.scale = 600,
	.seed = 20261202,
	.senders = 3,
	.grace = 4,
	.max_seconds = 600,
	.dbname = "paycons_demo",
	.out_dir = ".",
	.psql = "psql",
	.alipay_app_id = "2021004100000001",
	.wechat_mchid = "1900000109",
};

const char *const fate_names[FATE_COUNT] = {
	"normal", "never_pay", "late_pay", "lost", "wrong_amount", "fail_first"
};

static const char *alipay_key_path,
		   *wechat_key_path,
		   *attacker_key_path;
static struct timespec t0;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static bool bar_shown;
static const char *phase = "orders arriving";

/* ---- small helpers ---- */

double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double) (t.tv_sec - t0.tv_sec) + (double) (t.tv_nsec - t0.tv_nsec) / 1e9;
}

double
wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

void
die(const char *fmt,...)
{
	va_list		ap;

	pthread_mutex_lock(&out_lock);
	fprintf(stderr, "%spaycons-sim: ", bar_shown ? "\n" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	fflush(stdout);
	_exit(1);				/* other threads are still running */
}

/* say: a line of the story (above the progress bar) */
void
say(const char *fmt,...)
{
	va_list		ap;

	pthread_mutex_lock(&out_lock);
	if (bar_shown)
		fputs("\r\033[K", stdout);
	printf("  [%5.1f s] ", now_s());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	bar_shown = false;
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/*
 * Server notices (e.g. paycons' WARNING that a stock commit will be retried
 * by the worker) are part of the story: shown above the progress bar, the
 * first few of them.
 */
static void
notice_cb(void *arg, const char *message)
{
	static int	shown;
	int			n;

	(void) arg;
	pthread_mutex_lock(&world.lock);
	n = ++shown;
	pthread_mutex_unlock(&world.lock);
	if (n <= 5)
	{
		char		line[600];

		snprintf(line, sizeof(line), "%s", message);
		line[strcspn(line, "\n")] = '\0';
		say("server says: %s%s", line, n == 5 ? " (further notices not shown)" : "");
	}
}

/* a deadlock or serialization failure: the application runs it again */
bool
is_retryable(const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return st != NULL && (strcmp(st, "40P01") == 0 || strcmp(st, "40001") == 0);
}

/*
 * exec_retry: one statement (its own transaction), run again after a
 * deadlock or serialization failure, as applications do.  stmt is a
 * prepared statement's name when prepared, else the SQL.
 */
PGresult *
exec_retry(PGconn *conn, const char *stmt, bool prepared, int n, const char *const *values)
{
	int			attempt;

	for (attempt = 1;; attempt++)
	{
		PGresult   *res = prepared ? PQexecPrepared(conn, stmt, n, values, NULL, NULL, 0)
			: PQexecParams(conn, stmt, n, NULL, values, NULL, NULL, 0);

		if (attempt < 10 && is_retryable(res))
		{
			PQclear(res);
			usleep(10000 * attempt);
			continue;
		}
		return res;
	}
}

PGconn *
connect_as(const char *role)
{
	char		conninfo[512];
	PGconn	   *conn;

	snprintf(conninfo, sizeof(conninfo), "dbname='%s' user='%s' application_name='paycons-sim %s'",
			 params.dbname, role, role);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect as %s: %s", role, PQerrorMessage(conn));
	PQsetNoticeProcessor(conn, notice_cb, NULL);
	return conn;
}

void
exec_ok(PGconn *conn, PGresult *res, ExecStatusType want, const char *what)
{
	if (PQresultStatus(res) != want)
		die("%s: %s", what, PQerrorMessage(conn));
	PQclear(res);
}

/* ---- the plan of the day ---- */

typedef struct Product
{
	const char *sku;
	const char *name;
	int64_t		price;
} Product;

static const Product catalog[] = {
	{"TEA-LONGJING-250G", "西湖龙井 250g", 16800},
	{"TEA-PUER-357G", "普洱茶饼 357g", 22800},
	{"MUG-CELADON", "青瓷马克杯", 5900},
	{"BOWL-BLUEWHITE-4", "青花瓷碗 4 只", 8800},
	{"NOODLES-GIFT-6", "兰州拉面礼盒 6 份", 3990},
	{"DUMPLINGS-1KG", "手工水饺 1kg", 4590},
	{"MOONCAKE-BOX-8", "月饼礼盒 8 枚", 19800},
	{"CHILI-SAUCE-2", "老干妈辣酱 2 瓶", 2380},
	{"SOCKS-WOOL-3", "羊毛袜 3 双装", 2990},
	{"SCARF-SILK", "真丝围巾", 25900},
	{"SLIPPERS-CLOTH", "老北京布鞋", 8900},
	{"POWERBANK-10K", "充电宝 10000mAh", 12900},
	{"CABLE-USBC-2M", "USB-C 数据线 2m", 1990},
	{"EARBUDS-BT", "蓝牙耳机", 19900},
	{"UMBRELLA-AUTO", "自动折叠伞", 7900},
	{"THERMOS-500ML", "保温杯 500ml", 9900},
	{"NOTEBOOK-A5", "A5 笔记本", 1290},
	{"BRUSH-SET", "毛笔套装", 6800},
	{"CHOPSTICKS-5P", "乌木筷子 5 双", 2590},
	{"WOK-IRON-32", "铁锅 32cm", 15900},
	{"RICE-5KG", "五常大米 5kg", 8990},
	{"HONEY-500G", "槐花蜂蜜 500g", 6900},
	{"FAN-FOLDING", "檀香扇", 3900},
	{"LANTERN-RED-2", "红灯笼 2 只", 4900},
};
#define NPRODUCTS ((int) (sizeof(catalog) / sizeof(catalog[0])))

static int
share(double p)
{
	int			n = (int) (p * params.orders + 0.5);

	return n < 1 && params.orders >= 50 ? 1 : n;
}

static void
plan(void)
{
	Rng			rng = {params.seed * 2654435761UL + 1};
	int		   *perm = malloc(sizeof(int) * params.orders);
	int			i,
				k = 0,
				f,
				day,
				lost_late;
	char		today[16];
	int			counts[FATE_COUNT] = {0};
	const double fate_share[FATE_COUNT] = {0, 0.02, 0.01, 0.05, 0.01, 0.03};

	world.norders = params.orders;
	world.orders = calloc(params.orders, sizeof(Order));
	if (!perm || !world.orders)
		die("out of memory");
	beijing_time(wall_now(), today, sizeof(today), 0);
	today[4] = today[5];		/* YYYYMMDD */
	today[5] = today[6];
	today[6] = today[8];
	today[7] = today[9];
	today[8] = '\0';

	for (i = 0; i < params.orders; i++)
	{
		Order	   *o = &world.orders[i];
		int			lines = 1 + rng_int(&rng, 3),
					l;
		size_t		len = 0;

		perm[i] = i;
		o->idx = i;
		snprintf(o->id, sizeof(o->id), "SO-%06d", i + 1);
		o->ch = rng_unif(&rng) < 0.5 ? CH_ALIPAY : CH_WECHAT;
		len += snprintf(o->items + len, sizeof(o->items) - len, "[");
		for (l = 0; l < lines; l++)
		{
			const Product *p = &catalog[(i * 7 + l * 3 + rng_int(&rng, NPRODUCTS)) % NPRODUCTS];
			int			q = 1 + (rng_unif(&rng) < 0.2);

			if (l > 0 && strstr(o->items, p->sku))
				continue;
			if (o->subject == NULL)
				o->subject = p->name;
			o->amount += p->price * q;
			len += snprintf(o->items + len, sizeof(o->items) - len, "%s{\"sku\": \"%s\", \"quantity\": %d}",
							l ? ", " : "", p->sku, q);
		}
		snprintf(o->items + len, sizeof(o->items) - len, "]");
		o->pay_amount = o->amount;
		if (o->ch == CH_ALIPAY)
		{
			snprintf(o->txn, sizeof(o->txn), "%s2200%016d", today, 14580000 + i * 7);
			snprintf(o->fail_txn, sizeof(o->fail_txn), "%s2200%016d", today, 14580000 + i * 7 + 3);
		}
		else
		{
			snprintf(o->txn, sizeof(o->txn), "420000%04d%s%010d", 1000 + i % 9000, today, 258184 + i * 13);
			snprintf(o->fail_txn, sizeof(o->fail_txn), "%s", o->txn);
		}
	}

	/*
	 * The last orders of the day are taken after every other customer has
	 * paid and are paid in the day's last second; for most of them every
	 * notification is lost.  Their pay window runs past the end of the day,
	 * so the worker has not queried them yet: only the statement tells
	 * (补单).  The other lost notifications fall during the day, where the
	 * worker's payment.query finds them.
	 */
	world.midnight = share(0.015);
	lost_late = share(0.01) < world.midnight ? share(0.01) : world.midnight;
	day = params.orders - world.midnight;
	for (i = 0; i < lost_late; i++)
		world.orders[day + i].fate = FATE_LOST;

	/* the day's fates: exact shares of the orders, at random places */
	for (i = day - 1; i > 0; i--)
	{
		int			j = rng_int(&rng, i + 1),
					t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (f = 1; f < FATE_COUNT; f++)
	{
		int			want = share(fate_share[f]) - (f == FATE_LOST ? lost_late : 0);

		for (counts[f] = 0; counts[f] < want && k < day; counts[f]++)
			world.orders[perm[k++]].fate = (Fate) f;
	}
	for (i = 0; i < share(0.01) && k < day; i++)
		world.orders[perm[k++]].attrs |= ATTR_FORGED;
	for (i = 0; i < share(0.02) && k < day; i++)
		world.orders[perm[k++]].attrs |= ATTR_REFUND_FULL;
	for (i = 0; i < share(0.01) && k < day; i++)
		world.orders[perm[k++]].attrs |= ATTR_REFUND_PARTIAL;
	for (i = 0; i < params.orders; i++)
	{
		Order	   *o = &world.orders[i];

		if (o->fate == FATE_WRONG_AMOUNT)
			o->pay_amount = (i % 2 == 0 || o->amount <= 100) ? o->amount + 100 : o->amount - 100;
		if ((o->attrs & (ATTR_REFUND_FULL | ATTR_REFUND_PARTIAL)) || o->fate == FATE_LATE_PAY ||
			o->fate == FATE_WRONG_AMOUNT)
			if (rng_unif(&rng) < 0.25)
				o->attrs |= ATTR_REFUND_FAILS;
		if (o->ch == CH_WECHAT && o->fate == FATE_NORMAL && rng_unif(&rng) < 0.005)
			o->attrs |= ATTR_FEE_WRONG;
	}
	free(perm);
}

/* ---- the shop front: orders come in ---- */

static const char *checkout_sql =
"SELECT count(*)"
"  FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[]) AS o(id, amount, channel, items)"
"  CROSS JOIN LATERAL paycons.create_order(o.id, o.amount, 'CNY', $5::interval,"
"                                          jsonb_build_object('items', o.items)) AS c"
"  CROSS JOIN LATERAL paycons.reserve_stock(c.order_id, o.items) AS r"
"  CROSS JOIN LATERAL paycons.begin_payment(c.order_id, o.channel) AS b";

static void *
shop_main(void *arg)
{
	PGconn	   *conn = connect_as("shop_app");
	Rng			rng = {params.seed * 977 + 5};
	double		tick = 0.05;
	int			per = (int) (params.rate * tick + 0.5);
	char		window[32];
	int			next = 0,
				batch,
				nretry = 0;
	int		   *todo,
			   *retry;

	(void) arg;
	if (per < 1)
		per = 1;
	todo = malloc(sizeof(int) * (params.orders + per));
	retry = malloc(sizeof(int) * (params.orders + per));
	if (!todo || !retry)
		die("out of memory");
	snprintf(window, sizeof(window), "%.3f seconds", params.pay_within);
	exec_ok(conn, PQprepare(conn, "checkout", checkout_sql, 5, NULL), PGRES_COMMAND_OK, "prepare checkout");
	if (PQenterPipelineMode(conn) != 1)
		die("pipeline mode: %s", PQerrorMessage(conn));
	for (batch = 0; next < params.orders || nretry > 0; batch++)
	{
		double		due = batch * tick;
		int			i,
					k,
					n = 0,
					day = params.orders - world.midnight,
					end = next + per > day ? day : next + per;
		double		now;
		bool		midnight = false;

		while ((now = now_s()) < due)
			usleep((useconds_t) ((due - now) * 1e6));
		if (next >= day && nretry == 0)
		{
			/* the last orders of the day: once every other customer paid */
			for (;;)
			{
				bool		quiet;

				pthread_mutex_lock(&world.lock);
				quiet = world.pre_cut_pending == 0;
				pthread_mutex_unlock(&world.lock);
				if (quiet)
					break;
				usleep(50000);
			}
			end = params.orders;
			midnight = true;
		}

		/* this batch: the checkouts to run again, then new orders */
		for (i = 0; i < nretry; i++)
			todo[n++] = retry[i];
		nretry = 0;
		for (i = next; i < end; i++)
			todo[n++] = i;

		/*
		 * One transaction per order, as a web shop's checkout is; the
		 * batch's orders are pipelined (one round trip for all of them).
		 */
		for (k = 0; k < n; k++)
		{
			Order	   *o = &world.orders[todo[k]];
			char		ids[48],
						amt[48],
						chan[32],
						items[200];
			char	   *p = items;
			const char *v;

			snprintf(ids, sizeof(ids), "{\"%s\"}", o->id);
			snprintf(amt, sizeof(amt), "{%lld}", (long long) o->amount);
			snprintf(chan, sizeof(chan), "{%s}", CHANNEL_NAME(o->ch));
			/* the items as a one-element jsonb[] literal */
			*p++ = '{';
			*p++ = '"';
			for (v = o->items; *v && p < items + sizeof(items) - 4; v++)
			{
				if (*v == '"' || *v == '\\')
					*p++ = '\\';
				*p++ = *v;
			}
			*p++ = '"';
			*p++ = '}';
			*p = '\0';
			if (PQsendQueryPrepared(conn, "checkout", 5,
									(const char *[]) {ids, amt, chan, items, window}, NULL, NULL, 0) != 1 ||
				PQpipelineSync(conn) != 1)
				die("checkout: %s", PQerrorMessage(conn));
		}
		now = now_s();
		for (k = 0; k < n; k++)
		{
			Order	   *o = &world.orders[todo[k]];
			PGresult   *res = PQgetResult(conn);
			bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK;

			if (!ok && !is_retryable(res))
				die("checkout of %s: %s", o->id, PQresultErrorMessage(res));
			PQclear(res);
			if ((res = PQgetResult(conn)) != NULL)	/* end of this query */
				die("checkout: unexpected result");
			res = PQgetResult(conn);
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC)
				die("checkout: no pipeline sync");
			PQclear(res);
			if (!ok)
			{
				/* a deadlock with another transaction: the shop tries again */
				retry[nretry++] = todo[k];
				continue;
			}
			o->created_at = now;
			if (o->fate == FATE_NEVER_PAY || o->fate == FATE_LATE_PAY)
				continue;
			/* customers pay within the first 40% of the pay window; the
			 * last ones of the day at once (with their checkout) */
			if (midnight)
				customer_pays(o, &rng, true);
			else
				schedule(now + 0.2 + rng_unif(&rng) * (0.4 * params.pay_within - 0.2), T_PAY, o, NULL, 0, true);
		}
		if (end > next)
			next = end;
	}
	pthread_mutex_lock(&world.lock);
	world.shop_done = true;
	pthread_mutex_unlock(&world.lock);
	PQfinish(conn);
	return NULL;
}

/* ---- progress, from the database ---- */

static const char *progress_sql =
"SELECT count(*) FILTER (WHERE state::text <> ALL ('{created,paying,payment_failed,needs_review,refunding}')),"
"       (SELECT count(*) FROM paycons.callbacks WHERE applied_at IS NOT NULL),"
"       (SELECT count(*) FROM shop.delivered_events)"
"  FROM paycons.orders";

static const char *settled_sql =
"SELECT (SELECT count(*) FROM paycons.orders"
"         WHERE state::text = ANY ('{created,paying,payment_failed,needs_review,refunding}'))"
"     + (SELECT count(*) FROM paycons.outbox WHERE status IN ('pending', 'leased'))"
"     + (SELECT count(*) FROM paycons.compensations"
"         WHERE state IN ('pending', 'running', 'waiting_external'))";

static void
progress(PGconn *mon, bool force)
{
	static double last;
	PGresult   *res;
	long		settled,
				applied,
				delivered;
	double		t = now_s();

	if (!params.tty && !force && t - last < 5)
		return;
	last = t;
	res = PQexec(mon, progress_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("progress query: %s", PQerrorMessage(mon));
	settled = atol(PQgetvalue(res, 0, 0));
	applied = atol(PQgetvalue(res, 0, 1));
	delivered = atol(PQgetvalue(res, 0, 2));
	PQclear(res);

	pthread_mutex_lock(&out_lock);
	if (params.tty)
	{
		char		bar[32];
		int			w = 24,
					full = (int) ((double) settled / params.orders * w),
					i;

		for (i = 0; i < w; i++)
			bar[i] = i < full ? '=' : (i == full ? '>' : '.');
		bar[w] = '\0';
		printf("\r\033[K  [%s] %ld/%d orders settled | %ld callbacks applied | %ld events delivered | %.0f s %s",
			   bar, settled, params.orders, applied, delivered, t, phase);
		bar_shown = true;
	}
	else
		printf("  [%5.1f s] %s: %ld/%d orders settled, %ld callbacks applied, %ld events delivered"
			   " (channels %.2f s behind)\n",
			   t, phase, settled, params.orders, applied, delivered, world.lag);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void
set_phase(PGconn *mon, const char *p)
{
	phase = p;
	progress(mon, true);
}

/* ---- main ---- */

static void
usage(void)
{
	fprintf(stderr,
			"usage: paycons-sim --dbname DB --out DIR --alipay-key PEM --wechat-key PEM --attacker-key PEM\n"
			"                   --wechat-serial SERIAL --apiv3-key KEY --operator-sql FILE [--psql PSQL]\n"
			"                   [--orders N] [--rate R] [--pay-within S] [--grace S] [--scale X] [--seed N]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	static struct option opts[] = {
		{"dbname", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
		{"alipay-key", required_argument, 0, 'a'}, {"wechat-key", required_argument, 0, 'w'},
		{"attacker-key", required_argument, 0, 'x'}, {"wechat-serial", required_argument, 0, 's'},
		{"apiv3-key", required_argument, 0, 'k'}, {"operator-sql", required_argument, 0, 'O'},
		{"psql", required_argument, 0, 'p'}, {"orders", required_argument, 0, 'n'},
		{"rate", required_argument, 0, 'r'}, {"pay-within", required_argument, 0, 'W'},
		{"grace", required_argument, 0, 'g'}, {"scale", required_argument, 0, 'S'},
		{"seed", required_argument, 0, 'e'}, {"max-seconds", required_argument, 0, 'm'},
		{0, 0, 0, 0}
	};
	int			c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd': params.dbname = optarg; break;
			case 'o': params.out_dir = optarg; break;
			case 'a': alipay_key_path = optarg; break;
			case 'w': wechat_key_path = optarg; break;
			case 'x': attacker_key_path = optarg; break;
			case 's': params.wechat_serial = optarg; break;
			case 'k': params.apiv3_key = optarg; break;
			case 'O': params.operator_sql = optarg; break;
			case 'p': params.psql = optarg; break;
			case 'n': params.orders = atoi(optarg); break;
			case 'r': params.rate = atof(optarg); break;
			case 'W': params.pay_within = atof(optarg); break;
			case 'g': params.grace = atof(optarg); break;
			case 'S': params.scale = atof(optarg); break;
			case 'e': params.seed = strtoul(optarg, NULL, 10); break;
			case 'm': params.max_seconds = atof(optarg); break;
			default: usage();
		}
	}
	if (!alipay_key_path || !wechat_key_path || !attacker_key_path || !params.wechat_serial ||
		!params.apiv3_key || !params.operator_sql || params.orders < 1 || params.orders > 999999 ||
		params.rate <= 0 || params.pay_within <= 0.5 || params.scale <= 0)
		usage();
	if (strlen(params.apiv3_key) != 32)
		die("the APIv3 key must have 32 characters");
	if (strchr(params.operator_sql, '\'') || strchr(params.out_dir, '\'') ||
		strchr(params.psql, '\'') || strchr(params.dbname, '\''))
		die("paths must not contain a single quote");
	memcpy(world.apiv3, params.apiv3_key, 32);
	params.tty = isatty(STDOUT_FILENO);
}

/* the operator's part of the morning, with psql (output in operator.log) */
static void
run_operator_sql(void)
{
	char		cmd[4096];
	int			rc;

	snprintf(cmd, sizeof(cmd),
			 "PGUSER=shop_oncall '%s' -X -v ON_ERROR_STOP=1 -d '%s' -f '%s' > '%s/operator.log' 2>&1",
			 params.psql, params.dbname, params.operator_sql, params.out_dir);
	rc = system(cmd);
	if (rc != 0)
		die("the operator's script failed (status %d); see %s/operator.log", rc, params.out_dir);
	say("operator: %s done (decisions in the report; psql output in %s/operator.log)",
		params.operator_sql, params.out_dir);
}

int
main(int argc, char **argv)
{
	pthread_t	shop,
				consumer,
				senders[16];
	PGconn	   *mon,
			   *op;
	int			i,
				quiet_polls = 0;
	double		deadline;
	bool		settled = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	parse_args(argc, argv);
	world_init();
	world.alipay_key = load_private_key(alipay_key_path);
	world.wechat_key = load_private_key(wechat_key_path);
	world.attacker_key = load_private_key(attacker_key_path);
	plan();

	mon = connect_as("postgres");
	say("the storm: %d orders at %.0f a second, pay within %.1f s, channel time x%.0f "
		"(WeChat Pay retries after 15 s = %.3f s, Alipay after 4 min = %.2f s)",
		params.orders, params.rate, params.pay_within, params.scale, 15 / params.scale, 240 / params.scale);
	for (i = 0; i < params.senders && i < 16; i++)
		pthread_create(&senders[i], NULL, sender_main, (void *) (uintptr_t) (i + 1));
	pthread_create(&consumer, NULL, consumer_main, NULL);
	pthread_create(&shop, NULL, shop_main, NULL);

	/* 1. the day: until every order is taken and the day's payments are
	 * done (delivered, or lost for good) */
	deadline = params.max_seconds;
	for (;;)
	{
		bool		done;

		usleep(params.tty ? 250000 : 100000);
		progress(mon, false);
		/* every order taken, every customer of the day has paid, and a
		 * second for the first deliveries: what is still being retried
		 * arrives after the cut, as it would after midnight */
		pthread_mutex_lock(&world.lock);
		done = world.shop_done && world.pre_cut_pending == 0 && now_s() - world.last_pay >= 1.0;
		pthread_mutex_unlock(&world.lock);
		if (done)
			break;
		if (now_s() > deadline)
			die("the day's payments did not finish within %.0f s", params.max_seconds);
	}
	pthread_join(shop, NULL);

	/* 2. end of day: statements, reconciliation, the operator */
	world.cut_wall = wall_now();
	world.day_closed = true;
	set_phase(mon, "end of day");
	say("end of day: every payment of the day is in; the channels cut their statements");
	op = connect_as("shop_oncall");
	write_statements_and_load(op, mon);
	PQfinish(op);
	set_phase(mon, "operator");
	run_operator_sql();

	/* 3. after hours: until the database says everything settled */
	set_phase(mon, "worker closing, refunds");
	deadline = now_s() + 3 * (params.pay_within + params.grace) + 30;
	while (now_s() < deadline)
	{
		PGresult   *res;
		long		open;

		usleep(params.tty ? 250000 : 100000);
		progress(mon, false);
		res = PQexec(mon, settled_sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die("settle query: %s", PQerrorMessage(mon));
		open = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		quiet_polls = (open == 0 && world_idle()) ? quiet_polls + 1 : 0;
		if (quiet_polls >= 3)
		{
			settled = true;
			break;
		}
	}
	set_phase(mon, settled ? "settled" : "NOT settled");

	pthread_mutex_lock(&world.lock);
	world.stop = true;
	pthread_cond_broadcast(&world.cond);
	pthread_mutex_unlock(&world.lock);
	for (i = 0; i < params.senders && i < 16; i++)
		pthread_join(senders[i], NULL);
	pthread_join(consumer, NULL);
	if (params.tty)
		putchar('\n');

	write_ledger(mon);
	PQfinish(mon);
	if (world.http_errors > 0)
		say("the webhook answered HTTP 500 %ld time(s) (the channels retried)", world.http_errors);
	if (!settled)
	{
		say("the storm did not settle within the time allowed: the report shows what is left");
		return 2;
	}
	say("storm over after %.1f s", now_s());
	return 0;
}
