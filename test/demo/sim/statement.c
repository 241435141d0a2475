/*-------------------------------------------------------------------------
 *
 * statement.c
 *	  The end of the day: each channel writes its statement of the day in
 *	  its own format -- WeChat Pay's trade bill (交易账单: a backtick before
 *	  every field, CRLF, a summary row) and Alipay's business detail bill
 *	  (业务明细: GBK, '#' comments, ids padded with a tab, refunds negative)
 *	  -- with every payment and refund the channel made before the cut,
 *	  those whose notification never arrived included.  The operator loads
 *	  them (load_statement; Alipay's GBK converted on the way in by
 *	  client_encoding) and reconciles them (reconcile_statement, 补单).
 *
 *	  At the very end the channels' whole books (also what happened after
 *	  the cut) go into demo.channel_ledger, so that the report can check
 *	  paycons against them in SQL.
 *
 * IDENTIFICATION
 *	  test/demo/sim/statement.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Line
{
	double		wall;
	Order	   *o;
	int			refund_no;		/* -1: the payment */
} Line;

static int
line_cmp(const void *a, const void *b)
{
	double		d = ((const Line *) a)->wall - ((const Line *) b)->wall;

	return d < 0 ? -1 : d > 0 ? 1 : 0;
}

static void
beijing_date(double wall, char *buf, size_t len)
{
	char		t[32];

	beijing_time(wall, t, sizeof(t), 0);
	snprintf(buf, len, "%.10s", t);
}

/* every money movement of `ch` before the cut, in time order */
static Line *
collect(ChannelKind ch, double cut, int *nlines)
{
	Line	   *lines = malloc(sizeof(Line) * (world.norders * (MAX_REFUNDS + 1) + 1));
	int			n = 0,
				i,
				j;

	if (!lines)
		die("out of memory");
	for (i = 0; i < world.norders; i++)
	{
		Order	   *o = &world.orders[i];

		if (o->ch != ch || !o->paid)
			continue;
		if (o->paid_wall < cut)
			lines[n++] = (Line) {o->paid_wall, o, -1};
		for (j = 0; j < o->nrefunds; j++)
			if (o->refunds[j].ok && o->refunds[j].wall < cut)
				lines[n++] = (Line) {o->refunds[j].wall, o, j};
	}
	qsort(lines, n, sizeof(Line), line_cmp);
	*nlines = n;
	return lines;
}

static void
fee5(int64_t milli, char *buf, size_t len)
{
	const char *sign = milli < 0 ? "-" : "";
	int64_t		a = milli < 0 ? -milli : milli;

	snprintf(buf, len, "%s%lld.%05lld", sign, (long long) (a / 100000), (long long) (a % 100000));
}

/* WeChat Pay trade bill of one date */
static char *
wechat_bill(Line *l, int n, const char *date, const char *path)
{
	FILE	   *f = fopen(path, "w");
	int64_t		pay = 0,
				ref = 0,
				fees = 0;
	int			i,
				rows = 0;
	char		y[32],
				y2[32],
				fee[32],
				tot[32],
				t[32];

	if (!f)
		die("cannot write %s", path);
	fputs("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
		  "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
		  "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n", f);
	for (i = 0; i < n; i++)
	{
		Order	   *o = l[i].o;
		char		d[16];

		beijing_date(l[i].wall, d, sizeof(d));
		if (strcmp(d, date) != 0)
			continue;
		beijing_time(l[i].wall, t, sizeof(t), 0);
		rows++;
		if (l[i].refund_no < 0)
		{
			int64_t		milli = o->pay_amount * 6 + ((o->attrs & ATTR_FEE_WRONG) ? 2000 : 0);

			yuan(o->pay_amount, y, sizeof(y));
			fee5(milli, fee, sizeof(fee));
			fprintf(f, "`%s,`wxd930ea5d5a258f4f,`%s,`0,`,`%s,`%s,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,"
					"`SUCCESS,`CMB_CREDIT,`CNY,`%s,`0.00,`0,`0,`0.00,`0.00,`,`,`%s,`,`%s,`0.60%%,`%s,`0.00,`\r\n",
					t, params.wechat_mchid, o->txn, o->id, y, o->subject, fee, y);
			pay += o->pay_amount;
			fees += milli;
		}
		else
		{
			Refund	   *r = &o->refunds[l[i].refund_no];

			yuan(r->amount, y2, sizeof(y2));
			fee5(-r->amount * 6, fee, sizeof(fee));
			fprintf(f, "`%s,`wxd930ea5d5a258f4f,`%s,`0,`,`%s,`%s,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,"
					"`REFUND,`CMB_CREDIT,`CNY,`0.00,`0.00,`%s,`%s,`%s,`0.00,`ORIGINAL,`SUCCESS,`%s,`,`%s,"
					"`0.60%%,`0.00,`%s,`\r\n",
					t, params.wechat_mchid, o->txn, o->id, r->refund_id, r->request_no, y2, o->subject,
					fee, y2);
			ref += r->amount;
			fees -= r->amount * 6;
		}
	}
	yuan(pay, y, sizeof(y));
	yuan(ref, y2, sizeof(y2));
	fee5(fees, tot, sizeof(tot));
	fputs("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n", f);
	fprintf(f, "`%d,`%s,`%s,`0.00,`%s,`%s,`%s\r\n", rows, y, y2, tot, y, y2);
	fclose(f);
	return strdup(path);
}

/* Alipay business detail bill of one date, UTF-8 (converted to GBK after) */
static void
alipay_bill(Line *l, int n, const char *date, const char *path)
{
	FILE	   *f = fopen(path, "w");
	int64_t		pay = 0,
				ref = 0;
	int			i,
				npay = 0,
				nref = 0;
	char		y[32],
				fee[32],
				t[32],
				tc[32];
	int			yy,
				mm,
				dd;

	if (!f)
		die("cannot write %s", path);
	sscanf(date, "%d-%d-%d", &yy, &mm, &dd);
	fputs("#支付宝业务明细查询\n", f);
	fprintf(f, "#账号：[%s0156]\n", "2088102169940354");
	fprintf(f, "#起始日期：[%04d年%02d月%02d日 00:00:00]   终止日期：[%04d年%02d月%02d日 24:00:00]\n",
			yy, mm, dd, yy, mm, dd);
	fputs("#-----------------------------------------业务明细列表----------------------------------------\n", f);
	fputs("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
		  "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,"
		  "券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n", f);
	for (i = 0; i < n; i++)
	{
		Order	   *o = l[i].o;
		char		d[16];

		beijing_date(l[i].wall, d, sizeof(d));
		if (strcmp(d, date) != 0)
			continue;
		beijing_time(l[i].wall, t, sizeof(t), 0);
		beijing_time(o->paid_wall - 3, tc, sizeof(tc), 0);
		if (l[i].refund_no < 0)
		{
			yuan(o->pay_amount, y, sizeof(y));
			yuan(-((o->pay_amount * 6 + 500) / 1000), fee, sizeof(fee));
			fprintf(f, "%s\t,%s\t,交易\t,%s,%s,%s,\t,\t,\t,\t,*明(138****5566)\t,%s,%s,0.00,0.00,0.00,0.00,0.00,,"
					"0.00\t,0.00,\t,%s,0.00,\n", o->txn, o->id, o->subject, tc, t, y, y, fee);
			pay += o->pay_amount;
			npay++;
		}
		else
		{
			Refund	   *r = &o->refunds[l[i].refund_no];

			yuan(-r->amount, y, sizeof(y));
			yuan((r->amount * 6 + 500) / 1000, fee, sizeof(fee));
			fprintf(f, "%s\t,%s\t,退款\t,%s,%s,%s,\t,\t,\t,\t,*明(138****5566)\t,%s,%s,0.00,0.00,0.00,0.00,0.00,,"
					"0.00\t,0.00,%s\t,%s,0.00,退款\n", o->txn, o->id, o->subject, tc, t, y, y, r->request_no, fee);
			ref += r->amount;
			nref++;
		}
	}
	fputs("#-----------------------------------------业务明细列表结束------------------------------------\n", f);
	yuan(pay, y, sizeof(y));
	fprintf(f, "#交易合计：%d笔，商家实收：%s元，商家优惠：0.00元\n", npay, y);
	yuan(-ref, y, sizeof(y));
	fprintf(f, "#退款合计：%d笔，商家实收：%s元，商家优惠：0.00元\n", nref, y);
	beijing_time(wall_now(), t, sizeof(t), 0);
	fprintf(f, "#导出时间：[%s]\n", t);
	fclose(f);
}

/* read a whole file */
static char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *s;
	long		n;

	if (!f)
		die("cannot read %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc(n + 1);
	if (!s || fread(s, 1, n, f) != (size_t) n)
		die("cannot read %s", path);
	s[n] = '\0';
	fclose(f);
	*len = (size_t) n;
	return s;
}

/* UTF-8 file -> GBK file, as Alipay ships it */
static void
to_gbk(const char *from, const char *to)
{
	size_t		inlen,
				outcap,
				outleft;
	char	   *in = slurp(from, &inlen);
	char	   *inp = in;
	char	   *out,
			   *outp;
	iconv_t		cd = iconv_open("GBK", "UTF-8");
	FILE	   *f;

	if (cd == (iconv_t) -1)
		die("iconv cannot convert UTF-8 to GBK");
	outcap = outleft = inlen * 2 + 16;
	out = outp = malloc(outcap);
	if (!out || iconv(cd, &inp, &inlen, &outp, &outleft) == (size_t) -1)
		die("GBK conversion of %s failed: %s", from, strerror(errno));
	iconv_close(cd);
	f = fopen(to, "wb");
	if (!f || fwrite(out, 1, outcap - outleft, f) != outcap - outleft)
		die("cannot write %s", to);
	fclose(f);
	free(in);
	free(out);
}

static void
load_and_reconcile(PGconn *op, const char *channel, const char *date, const char *format,
				   const char *path, bool gbk)
{
	size_t		len;
	char	   *content = slurp(path, &len);
	PGresult   *res;

	if (gbk && PQsetClientEncoding(op, "GBK") != 0)
		die("cannot set client_encoding GBK");
	res = PQexecParams(op, "SELECT status, lines, payments, refunds"
					   "  FROM paycons.load_statement($1, $2::date, $3, $4)",
					   4, NULL, (const char *[]) {channel, date, format, content}, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("load_statement %s %s: %s", channel, date, PQerrorMessage(op));
	say("operator: load_statement('%s', '%s', '%s'): %s, %s lines (%s payments, %s refunds)%s",
		channel, date, format, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), gbk ? ", read as GBK" : "");
	PQclear(res);
	if (gbk && PQsetClientEncoding(op, "UTF8") != 0)
		die("cannot set client_encoding UTF8");
	free(content);

	res = PQexecParams(op, "SELECT lines, matched, repaired, differences, missing_in_statement, deferred"
					   "  FROM paycons.reconcile_statement($1, $2::date)",
					   2, NULL, (const char *[]) {channel, date}, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("reconcile_statement %s %s: %s", channel, date, PQerrorMessage(op));
	say("operator: reconcile_statement('%s', '%s'): %s lines, %s matched, %s repaired (补单), "
		"%s differences, %s missing in the statement, %s deferred to the next",
		channel, date, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
	PQclear(res);
}

/*
 * write_statements_and_load: cut the day at world.cut_wall, write one file
 * per channel and Beijing date, and load and reconcile each as the
 * operator.
 */
void
write_statements_and_load(PGconn *op, PGconn *owner)
{
	int			c;
	char		cut[64];
	PGresult   *res;

	/*
	 * The demo's day ends now, not at midnight: reconciliation must leave
	 * what the shop receives from now on to the next statement.  That is
	 * what the channels' cross_day_window says (the time before the end of
	 * the statement's day whose callbacks belong to the next one), set by
	 * the owner.
	 */
	snprintf(cut, sizeof(cut), "%.6f", world.cut_wall);
	res = PQexecParams(owner,
					   "WITH t AS (SELECT to_timestamp($1::float8) AT TIME ZONE 'Asia/Shanghai' AS bj)"
					   " SELECT s.channel, s.cross_day_window"
					   "   FROM t, unnest(ARRAY['alipay', 'wechatpay']) AS c(ch),"
					   "        paycons.set_statement_settings(c.ch, cross_day_window =>"
					   "            least(date_trunc('day', t.bj) + interval '1 day' - t.bj,"
					   "                  interval '23:59:59')) AS s",
					   1, NULL, (const char *[]) {cut}, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("set_statement_settings: %s", PQerrorMessage(owner));
	say("owner: the day ends now: cross_day_window = %s (callbacks from now on belong to the next statement)",
		PQgetvalue(res, 0, 1));
	PQclear(res);

	for (c = 0; c < 2; c++)
	{
		int			n,
					i,
					ndates = 0;
		Line	   *l = collect((ChannelKind) c, world.cut_wall, &n);
		char		dates[4][16];

		for (i = 0; i < n; i++)
		{
			char		d[16];
			int			k;

			beijing_date(l[i].wall, d, sizeof(d));
			for (k = 0; k < ndates && strcmp(dates[k], d) != 0; k++)
				;
			if (k == ndates && ndates < 4)
				strcpy(dates[ndates++], d);
		}
		for (i = 0; i < ndates; i++)
		{
			char		path[1024],
						gbk[1024];

			if (c == CH_WECHAT)
			{
				snprintf(path, sizeof(path), "%s/wechatpay_tradebill_%s.csv", params.out_dir, dates[i]);
				free(wechat_bill(l, n, dates[i], path));
				load_and_reconcile(op, "wechatpay", dates[i], "wechatpay_tradebill", path, false);
			}
			else
			{
				snprintf(path, sizeof(path), "%s/alipay_bill_%s.utf8.csv", params.out_dir, dates[i]);
				snprintf(gbk, sizeof(gbk), "%s/alipay_bill_%s.csv", params.out_dir, dates[i]);
				alipay_bill(l, n, dates[i], path);
				to_gbk(path, gbk);
				load_and_reconcile(op, "alipay", dates[i], "alipay_bill", gbk, true);
			}
		}
		free(l);
	}
}

static void
put(PGconn *conn, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
put(PGconn *conn, const char *fmt,...)
{
	char		line[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (PQputCopyData(conn, line, (int) strlen(line)) != 1)
		die("COPY demo.channel_ledger: %s", PQerrorMessage(conn));
}

static void
utc(double wall, char *buf, size_t len)
{
	time_t		t = (time_t) wall;
	struct tm	tm;
	char		s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06d+00", s, (int) ((wall - (double) t) * 1e6));
}

/* write_ledger: the channels' books, all of them, into demo.channel_ledger */
void
write_ledger(PGconn *owner)
{
	PGresult   *res = PQexec(owner, "COPY demo.channel_ledger (channel, kind, channel_txn_id, order_id, amount,"
								 " currency, at, in_statement) FROM STDIN");
	int			i,
				j;

	if (PQresultStatus(res) != PGRES_COPY_IN)
		die("COPY demo.channel_ledger: %s", PQerrorMessage(owner));
	PQclear(res);
	for (i = 0; i < world.norders; i++)
	{
		Order	   *o = &world.orders[i];
		char		at[48];

		if (!o->paid)
			continue;
		utc(o->paid_wall, at, sizeof(at));
		put(owner, "%s\tpayment\t%s\t%s\t%lld\tCNY\t%s\t%s\n", CHANNEL_NAME(o->ch), o->txn, o->id,
			(long long) o->pay_amount, at, o->paid_wall < world.cut_wall ? "t" : "f");
		for (j = 0; j < o->nrefunds; j++)
		{
			Refund	   *r = &o->refunds[j];

			if (!r->ok)
				continue;
			utc(r->wall, at, sizeof(at));
			put(owner, "%s\trefund\t%s\t%s\t%lld\tCNY\t%s\t%s\n", CHANNEL_NAME(o->ch),
				o->ch == CH_ALIPAY ? r->request_no : r->refund_id, o->id, (long long) r->amount, at,
				r->wall < world.cut_wall ? "t" : "f");
		}
	}
	if (PQputCopyEnd(owner, NULL) != 1)
		die("COPY demo.channel_ledger: %s", PQerrorMessage(owner));
	res = PQgetResult(owner);
	exec_ok(owner, res, PGRES_COMMAND_OK, "COPY demo.channel_ledger");
	while ((res = PQgetResult(owner)) != NULL)
		PQclear(res);
}
