/*-------------------------------------------------------------------------
 *
 * sim.h
 *	  The payment storm of `make demo`: shared types of the channel
 *	  simulator (customers, an Alipay-like and a WeChat-Pay-v3-like
 *	  channel, the shop's webhook handler, its outbox consumer and its
 *	  on-call engineer).
 *
 * The simulator talks to PostgreSQL only through paycons' public API
 * (libpq), as an application would.  Everything it knows about the
 * outcome it reads back from the database; its own state is the
 * channels' side of the world (who paid what, which refunds went out),
 * which it writes at the end as the channels' statement files and as
 * the ledger table demo.channel_ledger.
 *
 * IDENTIFICATION
 *	  test/demo/sim/sim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEMO_SIM_H
#define DEMO_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

/* rng (per thread) */
typedef struct Rng
{
	uint64_t	s;
} Rng;

/* ---- the two channels ---- */
typedef enum
{
	CH_ALIPAY = 0,
	CH_WECHAT = 1
} ChannelKind;

#define CHANNEL_NAME(c) ((c) == CH_ALIPAY ? "alipay" : "wechatpay")

/* ---- what happens to an order (one primary fate each) ---- */
typedef enum
{
	FATE_NORMAL = 0,			/* pays; notifications delivered (maybe
								 * twice, maybe after retries) */
	FATE_NEVER_PAY,				/* never pays: the worker queries, then
								 * closes, and stock goes back */
	FATE_LATE_PAY,				/* pays just after the order was closed */
	FATE_LOST,					/* pays; every notification is lost */
	FATE_WRONG_AMOUNT,			/* pays another amount: needs_review */
	FATE_FAIL_FIRST,			/* a failure notice and the success, in
								 * either order */
	FATE_COUNT
} Fate;

extern const char *const fate_names[FATE_COUNT];

/* attributes on top of the fate */
#define ATTR_FORGED			0x01	/* an attacker forges its notice first */
#define ATTR_REFUND_FULL	0x02	/* the customer returns the goods */
#define ATTR_REFUND_PARTIAL 0x04	/* part of the money goes back */
#define ATTR_REFUND_FAILS	0x08	/* the channel's first refund attempt
									 * fails */
#define ATTR_FEE_WRONG		0x10	/* the statement charges another fee */

#define MAX_REFUNDS 6

typedef struct Refund
{
	long		comp_id;		/* paycons compensation id */
	int			attempt;
	char		request_no[64]; /* merchant's refund request number */
	char		refund_id[40];	/* the channel's refund id (WeChat) */
	int64_t		amount;
	double		wall;			/* when the channel paid it out */
	bool		ok;
} Refund;

typedef struct Order
{
	int			idx;
	char		id[32];
	ChannelKind ch;
	Fate		fate;
	unsigned	attrs;
	int64_t		amount;			/* what the shop asks for */
	int64_t		pay_amount;		/* what the customer pays */
	char		items[160];		/* JSON array for reserve_stock */
	const char *subject;		/* product name for the channel */

	/* channel side, under world.lock */
	char		txn[40];		/* trade_no / transaction_id of the payment */
	char		fail_txn[40];	/* the failed first attempt */
	int			paid;			/* 0 not paid, 1 paid */
	double		paid_wall;		/* wall clock time of the payment */
	double		created_at;		/* simulation clock */
	int64_t		refunded_total; /* cumulative refunds at the channel */
	int			nrefunds;
	Refund		refunds[MAX_REFUNDS];
	bool		late_triggered;
	bool		refund_scheduled;
} Order;

/* ---- notifications the channels send ---- */
typedef enum
{
	N_PAY_SUCCESS,
	N_PAY_FAILED,
	N_REFUND_SUCCESS,
	N_REFUND_FAILED,
	N_FORGED
} NoticeKind;

typedef struct Notice
{
	Order	   *order;
	NoticeKind	kind;
	int			refund_no;		/* index into order->refunds */
	char	   *body;			/* exact bytes the channel sends */
	int			attempts;		/* HTTP requests made so far */
	int			lost_acks;		/* responses still to be "lost" (extra
								 * deliveries) */
	bool		never;			/* every request fails */
	bool		single;			/* a one-off request: a parallel copy, a
								 * forgery */
	bool		pre_cut;		/* part of the day's storm */
	bool		done;
} Notice;

/* ---- scheduled tasks ---- */
typedef enum
{
	T_PAY,						/* a customer pays at the channel */
	T_DELIVER,					/* the channel POSTs a notice */
	T_SHOP_REFUND,				/* the shop starts a customer refund */
	T_REFUND_NOTIFY				/* WeChat finishes a refund and notifies */
} TaskKind;

typedef struct Task
{
	double		due;
	TaskKind	kind;
	Order	   *order;
	Notice	   *notice;
	int			refund_no;
	bool		pre_cut;
} Task;

/* ---- parameters ---- */
typedef struct Params
{
	int			orders;
	double		rate;			/* orders created per second */
	double		pay_within;		/* seconds */
	double		scale;			/* channel seconds per real second */
	unsigned long seed;
	int			senders;
	double		grace;			/* paycons.stuck_grace, seconds */
	double		max_seconds;
	const char *dbname;
	const char *out_dir;
	const char *operator_sql;
	const char *psql;
	const char *alipay_app_id;
	const char *wechat_mchid;
	const char *wechat_serial;
	const char *apiv3_key;
	bool		tty;
} Params;

/* ---- the world ---- */
typedef struct World
{
	pthread_mutex_t lock;
	pthread_cond_t cond;
	Task	  **heap;
	int			nheap;
	int			cap;
	bool		stop;
	int			pre_cut_pending;	/* payments of the day still to come */
	double		last_pay;		/* when the last customer paid */
	int			in_flight;		/* tasks being executed */
	bool		shop_done;		/* every order created */
	bool		day_closed;		/* statements cut */
	double		cut_wall;
	Order	   *orders;
	int			norders;
	double		lag;			/* how late tasks start (moving average) */
	int			midnight;		/* the last orders, taken at the end of
								 * the day */
	long		seq;			/* id generator */
	/* keys */
	EVP_PKEY   *alipay_key;		/* plays Alipay's private key */
	EVP_PKEY   *wechat_key;		/* plays WeChat Pay's platform key */
	EVP_PKEY   *attacker_key;	/* nobody trusts it */
	unsigned char apiv3[32];
	/* what went wrong on the simulator's side (log only) */
	long		http_errors;
} World;

extern World world;
extern Params params;

/* main.c */
extern double now_s(void);
extern double wall_now(void);
extern void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));
extern void say(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern PGconn *connect_as(const char *role);
extern bool is_retryable(const PGresult *res);
extern PGresult *exec_retry(PGconn *conn, const char *stmt, bool prepared, int n, const char *const *values);
extern void exec_ok(PGconn *conn, PGresult *res, ExecStatusType want, const char *what);

extern uint64_t rng_next(Rng *r);
extern double rng_unif(Rng *r);
extern int	rng_int(Rng *r, int n);

/* world.c */
extern void world_init(void);
extern void schedule(double due, TaskKind kind, Order *o, Notice *n, int refund_no, bool pre_cut);
extern void *sender_main(void *arg);
extern void customer_pays(Order *o, Rng *rng, bool pre_cut);
extern void customer_pays_late(Order *o);
extern void shop_plans_refund(Order *o);
extern int	channel_query(Order *o, char *txn, size_t txnlen, int64_t *amount, const char **state);
extern int	channel_refund(Order *o, long comp_id, int attempt, int64_t amount, const char *pay_txn,
						   Refund **out);
extern void channel_refund_notify_later(Order *o, Refund *r);
extern bool world_idle(void);

/* formats.c */
extern char *alipay_payment_notice(Order *o, bool success, EVP_PKEY *key);
extern char *alipay_refund_notice(Order *o, int refund_no, EVP_PKEY *key);
extern char *wechat_notice_body(Order *o, NoticeKind kind, int refund_no, Rng *rng);
extern char *wechat_headers(const char *body, EVP_PKEY *key, Rng *rng);
extern char *b64(const unsigned char *data, size_t len);
extern char *rsa_sign_b64(EVP_PKEY *key, const char *msg, size_t len);
extern EVP_PKEY *load_private_key(const char *path);
extern void beijing_time(double wall, char *buf, size_t len, int style);
extern void yuan(int64_t fen, char *buf, size_t len);

/* consumer.c */
extern void *consumer_main(void *arg);

/* statement.c */
extern void write_statements_and_load(PGconn *op, PGconn *owner);
extern void write_ledger(PGconn *owner);

#endif							/* DEMO_SIM_H */
