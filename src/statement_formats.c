/*-------------------------------------------------------------------------
 *
 * statement_formats.c
 *	  What each statement format means: the header names of its columns
 *	  (WeChat Pay's trade bill, Alipay's business detail bill, Stripe's
 *	  balance transactions export, the documented generic CSV), and the
 *	  mapping of one detail record to a statement line (payment or refund,
 *	  which ids, amounts, fees and times) or to "skipped".
 *
 * Columns are found by their header names, never by position: the channels
 * add and reorder columns over the years (WeChat Pay says so in its bill
 * documentation).  The sources of each layout are listed in
 * doc/reconciliation.md.
 *
 * Backend-free (see statement_parse.h): no palloc, no ereport.
 *
 * IDENTIFICATION
 *	  src/statement_formats.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <string.h>

#include "money.h"
#include "statement_fields.h"
#include "statement_formats.h"

/*
 * Header names per format.  A role listed more than once takes the first
 * name the header has (so 订单金额 wins over 应结订单金额).  A role is
 * required if any of its entries says so.
 */
static const StmtColumnName stmt_wechatpay_columns[] = {
	{STMT_COL_TIME, "交易时间", true},
	{STMT_COL_TXN, "微信订单号", true},
	{STMT_COL_ORDER, "商户订单号", true},
	{STMT_COL_STATUS, "交易状态", true},
	{STMT_COL_CURRENCY, "货币种类", true},
	{STMT_COL_CURRENCY, "标价币种", true},
	{STMT_COL_AMOUNT, "订单金额", true},
	{STMT_COL_AMOUNT, "总金额", true},
	{STMT_COL_AMOUNT, "应结订单金额", true},
	{STMT_COL_REFUND_ID, "微信退款单号", true},
	{STMT_COL_MERCHANT_REFUND, "商户退款单号", true},
	{STMT_COL_REFUND_AMOUNT, "申请退款金额", true},
	{STMT_COL_REFUND_AMOUNT, "退款金额", true},
	{STMT_COL_REFUND_STATUS, "退款状态", true},
	{STMT_COL_REFUND_TIME, "退款成功时间", false},
	{STMT_COL_FEE, "手续费", false},
	{0, NULL, false}
};

static const StmtColumnName stmt_alipay_columns[] = {
	{STMT_COL_TXN, "支付宝交易号", true},
	{STMT_COL_ORDER, "商户订单号", true},
	{STMT_COL_STATUS, "业务类型", true},
	{STMT_COL_TIME, "完成时间", true},
	{STMT_COL_AMOUNT, "订单金额（元）", true},
	{STMT_COL_AMOUNT, "订单金额(元)", true},
	{STMT_COL_MERCHANT_REFUND, "退款批次号/请求号", true},
	{STMT_COL_FEE, "服务费（元）", false},
	{STMT_COL_FEE, "服务费(元)", false},
	{0, NULL, false}
};

static const StmtColumnName stmt_stripe_columns[] = {
	{STMT_COL_LINE_REF, "id", true},
	{STMT_COL_STATUS, "Type", true},
	{STMT_COL_TXN, "Source", true},
	{STMT_COL_AMOUNT, "Amount", true},
	{STMT_COL_FEE, "Fee", false},
	{STMT_COL_CURRENCY, "Currency", true},
	{STMT_COL_TIME, "Created (UTC)", true},
	{STMT_COL_TIME, "Created", true},
	{STMT_COL_ORDER, "order_id (metadata)", true},
	{0, NULL, false}
};

/* csv: amount/amount_minor and fee/fee_minor are checked by hand */
static const StmtColumnName stmt_csv_columns[] = {
	{STMT_COL_TXN, "channel_txn_id", true},
	{STMT_COL_ORDER, "order_id", true},
	{STMT_COL_STATUS, "kind", false},
	{STMT_COL_CURRENCY, "currency", true},
	{STMT_COL_AMOUNT, "amount", false},
	{STMT_COL_AMOUNT_MINOR, "amount_minor", false},
	{STMT_COL_FEE, "fee", false},
	{STMT_COL_FEE_MINOR, "fee_minor", false},
	{STMT_COL_TIME, "settled_at", false},
	{STMT_COL_ORIGINAL_TXN, "original_txn_id", false},
	{STMT_COL_MERCHANT_REFUND, "merchant_refund_id", false},
	{0, NULL, false}
};

const StmtColumnName *
StmtFormatColumns(StmtFormat format)
{
	switch (format)
	{
		case STMT_FMT_WECHATPAY:
			return stmt_wechatpay_columns;
		case STMT_FMT_ALIPAY:
			return stmt_alipay_columns;
		case STMT_FMT_STRIPE:
			return stmt_stripe_columns;
		default:
			return stmt_csv_columns;
	}
}

/* ---------------------------------------------------------------------- */
/* Detail records, per format: fill *out or answer STMT_SKIPPED */

static StmtResult
stmt_wechatpay_detail(StmtParser *p, StmtLine *out)
{
	StmtField	status = StmtGet(p, STMT_COL_STATUS);
	int			exponent;

	if (StmtFieldIs(status, "SUCCESS"))
		out->refund = false;
	else if (StmtFieldIs(status, "REFUND"))
	{
		/* the bill is a snapshot: only a refund that succeeded moved money */
		if (!StmtFieldIs(StmtGet(p, STMT_COL_REFUND_STATUS), "SUCCESS"))
			return STMT_SKIPPED;
		out->refund = true;
	}
	else
		return STMT_SKIPPED;	/* REVOKED and other non-money rows */

	if (!StmtCheckCurrency(p, StmtGet(p, STMT_COL_CURRENCY),
					   p->colname[STMT_COL_CURRENCY], false, out->currency, &exponent))
		return STMT_ERROR;
	out->order_id = StmtGet(p, STMT_COL_ORDER);
	if (!StmtCheckId(p, out->order_id, p->colname[STMT_COL_ORDER], STMT_MAX_ORDER_ID, false))
		return STMT_ERROR;
	if (!out->refund)
	{
		out->txn_id = StmtGet(p, STMT_COL_TXN);
		if (!StmtCheckId(p, out->txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
			!StmtCheckAmount(p, StmtGet(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
						 exponent, 0, STMT_SIGN_POSITIVE, &out->amount) ||
			!StmtCheckTime(p, StmtGet(p, STMT_COL_TIME), p->colname[STMT_COL_TIME],
					   true, out->settled_at))
			return STMT_ERROR;
		out->has_settled = true;
	}
	else
	{
		StmtField	rtime = StmtGet(p, STMT_COL_REFUND_TIME);

		out->txn_id = StmtGet(p, STMT_COL_REFUND_ID);
		out->original_txn_id = StmtGet(p, STMT_COL_TXN);
		out->merchant_refund_id = StmtGet(p, STMT_COL_MERCHANT_REFUND);
		if (!StmtCheckId(p, out->txn_id, p->colname[STMT_COL_REFUND_ID], STMT_MAX_ID, false) ||
			!StmtCheckId(p, out->original_txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, true) ||
			!StmtCheckId(p, out->merchant_refund_id, p->colname[STMT_COL_MERCHANT_REFUND],
						 STMT_MAX_ID, true) ||
			!StmtCheckAmount(p, StmtGet(p, STMT_COL_REFUND_AMOUNT),
						 p->colname[STMT_COL_REFUND_AMOUNT],
						 exponent, 0, STMT_SIGN_POSITIVE, &out->amount))
			return STMT_ERROR;

		/*
		 * 交易时间 of a refund row is not the refund's time in every bill
		 * version; only an explicit refund time is used and checked.
		 */
		if (rtime.len > 0)
		{
			if (!StmtCheckTime(p, rtime, p->colname[STMT_COL_REFUND_TIME], true,
							   out->settled_at))
				return STMT_ERROR;
			out->has_settled = true;
		}
	}
	/* 手续费 has five decimals (thousandths of a fen); negative on refunds */
	if (!StmtCheckAmount(p, StmtGet(p, STMT_COL_FEE), p->colname[STMT_COL_FEE],
					 exponent, 3, STMT_SIGN_ANY, &out->fee_milli))
		return STMT_ERROR;
	return STMT_LINE;
}

static StmtResult
stmt_alipay_detail(StmtParser *p, StmtLine *out)
{
	StmtField	type = StmtGet(p, STMT_COL_STATUS);
	int64_t		fee;

	if (StmtFieldIs(type, "交易"))
		out->refund = false;
	else if (StmtFieldIs(type, "退款"))
		out->refund = true;
	else
		return STMT_SKIPPED;

	memcpy(out->currency, "CNY", 4);
	out->order_id = StmtGet(p, STMT_COL_ORDER);
	if (!StmtCheckId(p, out->order_id, p->colname[STMT_COL_ORDER], STMT_MAX_ORDER_ID, false))
		return STMT_ERROR;
	if (!out->refund)
	{
		out->txn_id = StmtGet(p, STMT_COL_TXN);
		if (!StmtCheckId(p, out->txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
			!StmtCheckAmount(p, StmtGet(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
						 2, 0, STMT_SIGN_POSITIVE, &out->amount))
			return STMT_ERROR;
	}
	else
	{
		/* a refund is known by its request number (out_request_no) */
		out->txn_id = StmtGet(p, STMT_COL_MERCHANT_REFUND);
		out->merchant_refund_id = out->txn_id;
		out->original_txn_id = StmtGet(p, STMT_COL_TXN);
		if (!StmtCheckId(p, out->txn_id, p->colname[STMT_COL_MERCHANT_REFUND], STMT_MAX_ID, false) ||
			!StmtCheckId(p, out->original_txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
			!StmtCheckAmount(p, StmtGet(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
						 2, 0, STMT_SIGN_EITHER, &out->amount))
			return STMT_ERROR;
	}
	if (!StmtCheckTime(p, StmtGet(p, STMT_COL_TIME), p->colname[STMT_COL_TIME], true,
				   out->settled_at))
		return STMT_ERROR;
	out->has_settled = true;
	/* 服务费 is written from the merchant's side: negative when charged */
	if (!StmtCheckAmount(p, StmtGet(p, STMT_COL_FEE), p->colname[STMT_COL_FEE],
					 2, 3, STMT_SIGN_ANY, &fee))
		return STMT_ERROR;
	out->fee_milli = -fee;
	return STMT_LINE;
}

static StmtResult
stmt_stripe_detail(StmtParser *p, StmtLine *out)
{
	StmtField	type = StmtGet(p, STMT_COL_STATUS);
	int			exponent;

	if (StmtFieldIs(type, "charge") || StmtFieldIs(type, "payment"))
		out->refund = false;
	else if (StmtFieldIs(type, "refund") || StmtFieldIs(type, "payment_refund"))
		out->refund = true;
	else
		return STMT_SKIPPED;	/* payout, transfer, adjustment, stripe_fee, ... */

	out->txn_id = StmtGet(p, STMT_COL_TXN);
	out->line_ref = StmtGet(p, STMT_COL_LINE_REF);
	out->order_id = StmtGet(p, STMT_COL_ORDER);
	if (!StmtCheckId(p, out->txn_id, p->colname[STMT_COL_TXN], STMT_MAX_ID, false) ||
		!StmtCheckId(p, out->line_ref, p->colname[STMT_COL_LINE_REF], STMT_MAX_ID, true) ||
		!StmtCheckId(p, out->order_id, p->colname[STMT_COL_ORDER], STMT_MAX_ORDER_ID, false) ||
		!StmtCheckCurrency(p, StmtGet(p, STMT_COL_CURRENCY), p->colname[STMT_COL_CURRENCY],
					   true, out->currency, &exponent) ||
		!StmtCheckAmount(p, StmtGet(p, STMT_COL_AMOUNT), p->colname[STMT_COL_AMOUNT],
					 exponent, 0, out->refund ? STMT_SIGN_EITHER : STMT_SIGN_POSITIVE,
					 &out->amount) ||
		!StmtCheckAmount(p, StmtGet(p, STMT_COL_FEE), p->colname[STMT_COL_FEE],
					 exponent, 3, STMT_SIGN_ANY, &out->fee_milli) ||
		!StmtCheckTime(p, StmtGet(p, STMT_COL_TIME), p->colname[STMT_COL_TIME], true,
				   out->settled_at))
		return STMT_ERROR;
	out->has_settled = true;
	return STMT_LINE;
}

static StmtResult
stmt_csv_detail(StmtParser *p, StmtLine *out)
{
	StmtField	kind = StmtGet(p, STMT_COL_STATUS);
	StmtField	settled = StmtGet(p, STMT_COL_TIME);
	int			exponent;

	if (kind.len == 0 || StmtFieldIs(kind, "payment"))
		out->refund = false;
	else if (StmtFieldIs(kind, "refund"))
		out->refund = true;
	else
		return StmtFail(p, STMT_E_KIND, "kind", kind,
						"The kind of a csv statement line is payment or refund.");

	out->txn_id = StmtGet(p, STMT_COL_TXN);
	out->order_id = StmtGet(p, STMT_COL_ORDER);
	out->original_txn_id = StmtGet(p, STMT_COL_ORIGINAL_TXN);
	out->merchant_refund_id = StmtGet(p, STMT_COL_MERCHANT_REFUND);
	if (!StmtCheckId(p, out->txn_id, "channel_txn_id", STMT_MAX_ID, false) ||
		!StmtCheckId(p, out->order_id, "order_id", STMT_MAX_ORDER_ID, false) ||
		!StmtCheckId(p, out->original_txn_id, "original_txn_id", STMT_MAX_ID, true) ||
		!StmtCheckId(p, out->merchant_refund_id, "merchant_refund_id", STMT_MAX_ID, true) ||
		!StmtCheckCurrency(p, StmtGet(p, STMT_COL_CURRENCY), "currency", false,
					   out->currency, &exponent))
		return STMT_ERROR;

	if (p->col[STMT_COL_AMOUNT] >= 0)
	{
		if (!StmtCheckAmount(p, StmtGet(p, STMT_COL_AMOUNT), "amount", exponent, 0,
						 STMT_SIGN_POSITIVE, &out->amount))
			return STMT_ERROR;
	}
	else
	{
		StmtField	f = StmtGet(p, STMT_COL_AMOUNT_MINOR);
		PayconsMoneyStatus st = PayconsParseMinorUnits(f.p, f.len, false, &out->amount);

		if (st == PAYCONS_MONEY_NEGATIVE || (st == PAYCONS_MONEY_OK && out->amount == 0))
			return StmtFail(p, STMT_E_SIGN, "amount_minor", f,
							"The amount of a line must be greater than zero, without a sign.");
		if (st != PAYCONS_MONEY_OK)
			return StmtFail(p, STMT_E_AMOUNT, "amount_minor", f,
							"The value is %s: a whole number of minor units is expected.",
							PayconsMoneyStatusText(st));
	}

	if (p->col[STMT_COL_FEE_MINOR] >= 0)
	{
		StmtField	f = StmtGet(p, STMT_COL_FEE_MINOR);
		int64_t		fee = 0;
		PayconsMoneyStatus st = PAYCONS_MONEY_OK;

		if (f.len > 0)
			st = PayconsParseMinorUnits(f.p, f.len, true, &fee);
		if (st == PAYCONS_MONEY_OK && (fee > INT64_MAX / 1000 || fee < INT64_MIN / 1000))
			st = PAYCONS_MONEY_RANGE;
		if (st != PAYCONS_MONEY_OK)
			return StmtFail(p, STMT_E_AMOUNT, "fee_minor", f,
							"The value is %s: a whole number of minor units is expected.",
							PayconsMoneyStatusText(st));
		out->fee_milli = fee * 1000;
	}
	else if (!StmtCheckAmount(p, StmtGet(p, STMT_COL_FEE), "fee", exponent, 3,
						  STMT_SIGN_ANY, &out->fee_milli))
		return STMT_ERROR;

	if (settled.len > 0)
	{
		if (!StmtCheckTime(p, settled, "settled_at", true, out->settled_at))
			return STMT_ERROR;
		out->has_settled = true;
	}
	return STMT_LINE;
}

StmtResult
StmtFormatDetail(StmtParser *p, StmtLine *out)
{
	StmtResult	res;

	switch (p->format)
	{
		case STMT_FMT_WECHATPAY:
			res = stmt_wechatpay_detail(p, out);
			break;
		case STMT_FMT_ALIPAY:
			res = stmt_alipay_detail(p, out);
			if (res == STMT_LINE)
			{
				if (out->refund)
					p->refunds++;
				else
					p->payments++;
			}
			break;
		case STMT_FMT_STRIPE:
			res = stmt_stripe_detail(p, out);
			break;
		default:
			res = stmt_csv_detail(p, out);
			break;
	}
	return res;
}
