/*-------------------------------------------------------------------------
 *
 * world.c
 *	  The channels' side of the storm and the shop's webhook handler: a
 *	  clock-ordered queue of tasks (a customer pays, a channel POSTs a
 *	  notification, a refund completes, the shop starts a refund) worked
 *	  off by "sender" threads, each with its own connection, as the shop's
 *	  webhook endpoint would be called by many channel servers at once.
 *
 * Each notification is delivered on its channel's own retry schedule, in
 * compressed time, until the channel reads its ack: WeChat Pay 15 s, 15 s,
 * 30 s, 3 min, 10 min, 20 min, 30 min, 30 min, 30 min, 60 min, 3 h, 3 h,
 * 3 h, 6 h, 6 h; Alipay 4 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h
 * (doc/channels.md).  Some requests never arrive (a transport failure:
 * retried), some responses are lost (the channel sends again: a
 * duplicate), some notifications go out twice at once (two channel
 * servers: a concurrent duplicate), some are never delivered at all.
 *
 * IDENTIFICATION
 *	  test/demo/sim/world.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

World		world;

static const double wechat_schedule[] = {15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600,
10800, 10800, 10800, 21600, 21600};
static const double alipay_schedule[] = {240, 600, 600, 3600, 7200, 21600, 54000};

#define P_TRANSPORT_FAIL 0.05	/* a request that never reaches the shop */

/* ---- random numbers (xorshift64*, one state per thread) ---- */

uint64_t
rng_next(Rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

double
rng_unif(Rng *r)
{
	return (double) (rng_next(r) >> 11) / 9007199254740992.0;
}

int
rng_int(Rng *r, int n)
{
	return (int) (rng_unif(r) * n);
}

/* ---- the task queue: a binary heap on due time ---- */

static void
heap_push(Task *t)
{
	int			i;

	if (world.nheap == world.cap)
	{
		world.cap = world.cap ? world.cap * 2 : 4096;
		world.heap = realloc(world.heap, world.cap * sizeof(Task *));
		if (!world.heap)
			die("out of memory");
	}
	i = world.nheap++;
	while (i > 0 && world.heap[(i - 1) / 2]->due > t->due)
	{
		world.heap[i] = world.heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	world.heap[i] = t;
}

static Task *
heap_pop(void)
{
	Task	   *top = world.heap[0];
	Task	   *last = world.heap[--world.nheap];
	int			i = 0;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= world.nheap)
			break;
		if (c + 1 < world.nheap && world.heap[c + 1]->due < world.heap[c]->due)
			c++;
		if (world.heap[c]->due >= last->due)
			break;
		world.heap[i] = world.heap[c];
		i = c;
	}
	if (world.nheap > 0)
		world.heap[i] = last;
	return top;
}

void
world_init(void)
{
	pthread_mutex_init(&world.lock, NULL);
	pthread_cond_init(&world.cond, NULL);
}

/* schedule: queue a task (any thread) */
void
schedule(double due, TaskKind kind, Order *o, Notice *n, int refund_no, bool pre_cut)
{
	Task	   *t = calloc(1, sizeof(Task));

	if (!t)
		die("out of memory");
	t->due = due;
	t->kind = kind;
	t->order = o;
	t->notice = n;
	t->refund_no = refund_no;
	t->pre_cut = pre_cut;
	pthread_mutex_lock(&world.lock);
	if (pre_cut)
		world.pre_cut_pending++;
	heap_push(t);
	pthread_cond_broadcast(&world.cond);
	pthread_mutex_unlock(&world.lock);
}

bool
world_idle(void)
{
	bool		idle;

	pthread_mutex_lock(&world.lock);
	idle = world.nheap == 0 && world.in_flight == 0;
	pthread_mutex_unlock(&world.lock);
	return idle;
}

/* ---- one sender thread = one connection of the webhook endpoint ---- */

typedef struct Sender
{
	PGconn	   *conn;
	Rng			rng;
} Sender;

static Notice *
new_notice(Order *o, NoticeKind kind, int refund_no, bool pre_cut, char *body)
{
	Notice	   *n = calloc(1, sizeof(Notice));

	if (!n)
		die("out of memory");
	n->order = o;
	n->kind = kind;
	n->refund_no = refund_no;
	n->pre_cut = pre_cut;
	n->body = body;
	return n;
}

/*
 * send_notice: the channel starts delivering a notification at `due`.
 * Some are answered but the answer is lost (the channel sends them again
 * on its schedule), some go out twice at once (a second channel server).
 */
static void
send_notice(Notice *n, double due, Rng *rng, bool may_duplicate)
{
	if (may_duplicate)
	{
		double		u = rng_unif(rng);

		if (u < 0.20)
			n->lost_acks = 1;
		else if (u < 0.30)
		{
			Notice	   *copy = new_notice(n->order, n->kind, n->refund_no, n->pre_cut, strdup(n->body));

			copy->single = true;
			schedule(due, T_DELIVER, n->order, copy, 0, false);
		}
	}
	schedule(due, T_DELIVER, n->order, n, 0, false);
}

static double
retry_in(ChannelKind ch, int attempts, bool *give_up)
{
	const double *s = ch == CH_WECHAT ? wechat_schedule : alipay_schedule;
	int			len = ch == CH_WECHAT ? 15 : 7;

	*give_up = attempts > len;
	return *give_up ? 0 : s[attempts - 1] / params.scale;
}

/* T_PAY: the customer pays at the channel; the channel notifies */
static void
task_pay(Sender *s, Order *o, bool pre_cut)
{
	customer_pays(o, &s->rng, pre_cut);
}

/* customer_pays: the payment at the channel, and its notifications */
void
customer_pays(Order *o, Rng *rng, bool pre_cut)
{
	double		now = now_s();
	Notice	   *n;
	char	   *body;

	pthread_mutex_lock(&world.lock);
	o->paid = 1;
	o->paid_wall = wall_now();
	world.last_pay = now;
	pthread_mutex_unlock(&world.lock);

	if (o->fate == FATE_LOST)
		return;					/* the channel tries and tries: nothing
								 * ever arrives */

	if (o->attrs & ATTR_FORGED)
	{
		/* an attacker races the channel with a notice signed by a key
		 * nobody trusts; it sends once */
		if (o->ch == CH_ALIPAY)
			body = alipay_payment_notice(o, true, world.attacker_key);
		else
			body = wechat_notice_body(o, N_FORGED, 0, rng);
		n = new_notice(o, N_FORGED, 0, pre_cut, body);
		n->single = true;
		schedule(now + 0.002, T_DELIVER, o, n, 0, false);
	}
	if (o->fate == FATE_FAIL_FIRST)
	{
		/* the failed first attempt: its notice may come after the
		 * success */
		body = o->ch == CH_ALIPAY ? alipay_payment_notice(o, false, world.alipay_key)
			: wechat_notice_body(o, N_PAY_FAILED, 0, rng);
		n = new_notice(o, N_PAY_FAILED, 0, pre_cut, body);
		send_notice(n, now + rng_unif(rng) * 0.15, rng, true);
	}
	body = o->ch == CH_ALIPAY ? alipay_payment_notice(o, true, world.alipay_key)
		: wechat_notice_body(o, N_PAY_SUCCESS, 0, rng);
	n = new_notice(o, N_PAY_SUCCESS, 0, pre_cut, body);
	send_notice(n, now + 0.02 + rng_unif(rng) * 0.1, rng, true);
}

/*
 * The shop's webhook handler: the raw body and headers in, one SQL call,
 * the answer logged in the same statement (so the log never disagrees
 * with what committed).
 */
static const char *deliver_sql =
"WITH n AS (SELECT * FROM paycons.apply_notification($1, $2, $3::jsonb)),"
"     l AS (INSERT INTO shop.payment_log (via, channel, outcome, duplicate, ack_status, order_id, channel_txn_id)"
"           SELECT 'notification', $1, n.outcome, n.duplicate, n.ack_status, n.order_id, n.channel_txn_id FROM n)"
" SELECT outcome, ack_status, ack_body FROM n";

/* T_DELIVER: one HTTP request of the channel to the shop */
static void
task_deliver(Sender *s, Notice *n)
{
	Order	   *o = n->order;
	const char *ch = CHANNEL_NAME(o->ch);
	char	   *headers;
	const char *values[3];
	PGresult   *res;
	bool		acked = false;
	bool		give_up;
	double		delay;

	n->attempts++;
	if (n->kind != N_FORGED && !n->single && rng_unif(&s->rng) < P_TRANSPORT_FAIL)
		goto retry;				/* connection timed out: never reached the
								 * shop */

	if (o->ch == CH_WECHAT)
		headers = wechat_headers(n->body, n->kind == N_FORGED ? world.attacker_key : world.wechat_key,
								 &s->rng);
	else
		headers = strdup("{\"Content-Type\": \"application/x-www-form-urlencoded; charset=utf-8\"}");
	values[0] = ch;
	values[1] = n->body;
	values[2] = headers;
	res = exec_retry(s->conn, "deliver", true, 3, values);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		int			status = atoi(PQgetvalue(res, 0, 1));
		const char *ack = PQgetvalue(res, 0, 2);

		if (o->ch == CH_WECHAT)
			acked = status == 200 || status == 204;
		else
			acked = status == 200 && strcmp(ack, "success") == 0;
	}
	else
	{
		/* HTTP 500: nothing was applied; the channel retries */
		pthread_mutex_lock(&world.lock);
		world.http_errors++;
		pthread_mutex_unlock(&world.lock);
		fprintf(stderr, "\nwebhook error (%s %s): %s", ch, o->id, PQerrorMessage(s->conn));
	}
	PQclear(res);
	free(headers);

	if (n->single)
		return;					/* a forgery or a parallel copy: sent once */
	if (acked && n->lost_acks == 0)
	{
		n->done = true;
		return;
	}
	if (acked)
		n->lost_acks--;			/* the answer got lost on the way back */

retry:
	delay = retry_in(o->ch, n->attempts, &give_up);
	if (give_up)
	{
		n->done = true;
		return;
	}
	schedule(now_s() + delay, T_DELIVER, o, n, 0, false);
}

/*
 * T_SHOP_REFUND: after-sales starts a refund, as the application: the
 * order to refunding (all of it) and the refund step, in one statement.
 */
static void
task_shop_refund(Sender *s, Order *o)
{
	bool		full = (o->attrs & ATTR_REFUND_FULL) != 0;
	char		amount[32];
	PGresult   *res;

	snprintf(amount, sizeof(amount), "%lld",
			 (long long) (full ? o->pay_amount : (o->pay_amount * 3 / 10 / 10) * 10 + 10));
	if (full)
		res = exec_retry(s->conn,
						 "SELECT paycons.enqueue_compensation(o.order_id, 'refund:' || o.channel_txn_id, NULL,"
						 "    jsonb_build_object('channel', o.channel, 'channel_txn_id', o.channel_txn_id,"
						 "                       'amount', $2::bigint, 'currency', o.currency,"
						 "                       'reason', 'customer request'))"
						 "  FROM paycons.transition($1, 'refunding', 'customer returned the goods') o",
						 false, 2, (const char *[]) {o->id, amount});
	else
		res = exec_retry(s->conn,
						 "SELECT paycons.enqueue_compensation(o.order_id, 'refund:' || o.channel_txn_id || ':partial',"
						 "    NULL, jsonb_build_object('channel', o.channel, 'channel_txn_id', o.channel_txn_id,"
						 "                             'amount', $2::bigint, 'currency', o.currency,"
						 "                             'reason', 'partial refund: one item arrived broken'))"
						 "  FROM paycons.get_order($1) o",
						 false, 2, (const char *[]) {o->id, amount});
	exec_ok(s->conn, res, PGRES_TUPLES_OK, "start a refund");
}

/* T_REFUND_NOTIFY: the channel tells the shop how a refund went */
static void
task_refund_notify(Sender *s, Order *o, int refund_no)
{
	Refund	   *r = &o->refunds[refund_no];
	char	   *body;
	Notice	   *n;

	pthread_mutex_lock(&world.lock);
	if (o->ch == CH_ALIPAY)
		body = alipay_refund_notice(o, refund_no, world.alipay_key);
	else
		body = wechat_notice_body(o, r->ok ? N_REFUND_SUCCESS : N_REFUND_FAILED, refund_no, &s->rng);
	pthread_mutex_unlock(&world.lock);
	n = new_notice(o, r->ok ? N_REFUND_SUCCESS : N_REFUND_FAILED, refund_no, false, body);
	send_notice(n, now_s(), &s->rng, true);
}

void *
sender_main(void *arg)
{
	Sender		s;
	PGresult   *res;

	s.conn = connect_as("shop_app");
	s.rng.s = params.seed * 7919 + (uint64_t) (uintptr_t) arg * 104729 + 1;
	res = PQprepare(s.conn, "deliver", deliver_sql, 3, NULL);
	exec_ok(s.conn, res, PGRES_COMMAND_OK, "prepare deliver");

	for (;;)
	{
		Task	   *t;

		pthread_mutex_lock(&world.lock);
		for (;;)
		{
			double		now;

			if (world.stop)
			{
				pthread_mutex_unlock(&world.lock);
				PQfinish(s.conn);
				return NULL;
			}
			now = now_s();
			if (world.nheap > 0 && world.heap[0]->due <= now)
				break;
			if (world.nheap > 0)
			{
				struct timespec ts;
				double		wake = world.heap[0]->due - now;

				if (wake > 0.2)
					wake = 0.2;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += (long) (wake * 1e9);
				ts.tv_sec += ts.tv_nsec / 1000000000L;
				ts.tv_nsec %= 1000000000L;
				pthread_cond_timedwait(&world.cond, &world.lock, &ts);
			}
			else
			{
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 1;
				pthread_cond_timedwait(&world.cond, &world.lock, &ts);
			}
		}
		t = heap_pop();
		world.in_flight++;
		world.lag = 0.95 * world.lag + 0.05 * (now_s() - t->due);
		pthread_mutex_unlock(&world.lock);

		switch (t->kind)
		{
			case T_PAY:
				task_pay(&s, t->order, t->pre_cut);
				break;
			case T_DELIVER:
				task_deliver(&s, t->notice);
				break;
			case T_SHOP_REFUND:
				task_shop_refund(&s, t->order);
				break;
			case T_REFUND_NOTIFY:
				task_refund_notify(&s, t->order, t->refund_no);
				break;
		}

		pthread_mutex_lock(&world.lock);
		world.in_flight--;
		if (t->pre_cut)
			world.pre_cut_pending--;
		pthread_cond_broadcast(&world.cond);
		pthread_mutex_unlock(&world.lock);
		free(t);
	}
}

/* ---- what the consumer and the customers trigger ---- */

/* a customer who pays after the order was closed (seen as order.closed) */
void
customer_pays_late(Order *o)
{
	bool		go;

	pthread_mutex_lock(&world.lock);
	go = o->fate == FATE_LATE_PAY && !o->late_triggered && !o->paid;
	o->late_triggered = true;
	pthread_mutex_unlock(&world.lock);
	if (go)
		schedule(now_s() + 0.2, T_PAY, o, NULL, 0, false);
}

/* a paid order the customer will send back (seen as order.paid) */
void
shop_plans_refund(Order *o)
{
	bool		go;

	pthread_mutex_lock(&world.lock);
	go = (o->attrs & (ATTR_REFUND_FULL | ATTR_REFUND_PARTIAL)) && !o->refund_scheduled;
	o->refund_scheduled = true;
	pthread_mutex_unlock(&world.lock);
	if (go)
		schedule(now_s() + 0.3 + (o->idx % 10) * 0.1, T_SHOP_REFUND, o, NULL, 0, false);
}

/*
 * channel_query: the channel's answer to "is this order paid?" (WeChat
 * "查询订单", Alipay alipay.trade.query).  1 paid (txn and amount filled
 * in), 0 not paid.
 */
int
channel_query(Order *o, char *txn, size_t txnlen, int64_t *amount, const char **state)
{
	int			paid;

	pthread_mutex_lock(&world.lock);
	paid = o->paid;
	if (paid)
	{
		snprintf(txn, txnlen, "%s", o->txn);
		*amount = o->pay_amount;
	}
	pthread_mutex_unlock(&world.lock);
	if (o->ch == CH_WECHAT)
		*state = paid ? "SUCCESS" : "NOTPAY";
	else
		*state = paid ? "TRADE_SUCCESS" : "WAIT_BUYER_PAY";
	return paid;
}

/*
 * channel_refund: the refund API.  Idempotent on (compensation, attempt):
 * asked again, it answers the same.  Returns 1 refunded (Alipay answers at
 * once), 0 accepted (WeChat Pay: the result comes as a notification),
 * -1 refused (Alipay: a system error; the shop reports the failed attempt).
 * The first attempt of an order marked ATTR_REFUND_FAILS fails.
 */
int
channel_refund(Order *o, long comp_id, int attempt, int64_t amount, const char *pay_txn, Refund **out)
{
	Refund	   *r = NULL;
	int			i,
				rc;
	bool		fail;

	(void) pay_txn;
	pthread_mutex_lock(&world.lock);
	/*
	 * Idempotent on the compensation: once a refund of it went out, every
	 * later request for it (a re-sent command, a stale attempt) gets that
	 * refund back, never a second one.  The same attempt asked again gets
	 * the same answer.
	 */
	for (i = 0; i < o->nrefunds; i++)
		if (o->refunds[i].comp_id == comp_id &&
			(o->refunds[i].ok || o->refunds[i].attempt == attempt))
		{
			r = &o->refunds[i];
			if (r->ok)
				break;
		}
	if (r != NULL)
	{
		*out = r;
		rc = r->ok ? (o->ch == CH_ALIPAY ? 1 : 0) : (o->ch == CH_ALIPAY ? -1 : 0);
		pthread_mutex_unlock(&world.lock);
		return rc;
	}
	if (o->nrefunds >= MAX_REFUNDS)
		die("order %s: too many refunds", o->id);
	fail = (o->attrs & ATTR_REFUND_FAILS) && o->nrefunds == 0;
	r = &o->refunds[o->nrefunds++];
	r->comp_id = comp_id;
	r->attempt = attempt;
	r->amount = amount;
	r->ok = !fail && o->refunded_total + amount <= o->pay_amount;
	r->wall = wall_now();
	snprintf(r->request_no, sizeof(r->request_no), "%s-R%ld-%d", o->id, comp_id, attempt);
	snprintf(r->refund_id, sizeof(r->refund_id), "5030%012ld%06d%02d", ++world.seq, o->idx % 1000000,
			 o->nrefunds);
	if (r->ok)
		o->refunded_total += amount;
	*out = r;
	pthread_mutex_unlock(&world.lock);

	if (o->ch == CH_WECHAT)
	{
		/* PROCESSING: the outcome comes as a notification */
		schedule(now_s() + 0.05 + 0.001 * (o->idx % 100), T_REFUND_NOTIFY, o, NULL, (int) (r - o->refunds),
				 false);
		return 0;
	}
	return r->ok ? 1 : -1;
}

/* Alipay also notifies a refund (after the API answered) */
void
channel_refund_notify_later(Order *o, Refund *r)
{
	schedule(now_s() + 0.2, T_REFUND_NOTIFY, o, NULL, (int) (r - o->refunds), false);
}
