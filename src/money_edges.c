/*-------------------------------------------------------------------------
 *
 * money_edges.c
 *	  Money authority: the order state changes that claim money moved are
 *	  taken only by paycons's own money paths, never because a caller asked
 *	  for them.
 *
 * A money edge is one whose target says money arrived, left, or was
 * judged: "-> paid", "-> refunded", "-> needs_review" (money that does not
 * match), "closed | cancelled -> refunding" (money arrived after the order
 * was given up), and every edge out of "needs_review" (settling money on
 * record).  On paycons.orders, the guard trigger lets such a change pass
 * only when
 *
 *	- it is made by paycons's own code running as the extension owner
 *	  (inside PayconsAsOwner, the current user being the owner) on its own
 *	  account: apply_callback and everything built on it (notifications,
 *	  statement reconciliation), review resolution.  The decision comes
 *	  from money facts there, not from an argument naming the target;
 *	- or the role asking for it (the actor) has the privileges of the
 *	  extension owner and gives a reason (transition()'s argument or
 *	  paycons.reason): the change is then "forced", and order_history says
 *	  so.
 *
 * paycons.transition() runs its work with PayconsAsOwnerForCaller: the
 * caller names the target, so the work holds no money authority of its
 * own, whoever calls it.  A change made with no paycons work around it (a
 * plain UPDATE) holds none either; nor does user code that paycons runs as
 * the user's own role (a compensation handler), since the current user is
 * then not the owner.  Any new API function that moves an order to a
 * state its caller names must run its work with PayconsAsOwnerForCaller.
 *
 * Besides, "-> refunding" taken without money authority needs money to
 * refund: paid_amount > refunded_amount.
 *
 * These rules are for paycons.orders.  On a user's own table the guard
 * checks the state machine only: paycons knows nothing of its money.
 *
 * IDENTIFICATION
 *	  src/money_edges.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/rel.h"

#include "errcodes.h"
#include "money_edges.h"

/* True while the work of an API call whose caller names the target runs */
static bool money_caller_choice = false;

/*
 * Does from -> to claim that money moved (or settle money on record)?  The
 * edge itself must be legal; this only classifies it.
 */
bool
PayconsIsMoneyEdge(OrderState from, OrderState to)
{
	if (from == OS_NEEDS_REVIEW)
		return true;
	switch (to)
	{
		case OS_PAID:
		case OS_REFUNDED:
		case OS_NEEDS_REVIEW:
			return true;
		case OS_REFUNDING:
			return from == OS_CLOSED || from == OS_CANCELLED;
		default:
			return false;
	}
}

/*
 * PayconsAsOwner for an API call whose caller chooses the target state
 * (transition()): the work runs as the owner but holds no money authority.
 */
void
PayconsAsOwnerForCaller(const char *reason, PayconsOwnerWork work, void *arg)
{
	bool		save = money_caller_choice;

	money_caller_choice = true;
	PG_TRY();
	{
		PayconsAsOwner(reason, work, arg);
	}
	PG_FINALLY();
	{
		money_caller_choice = save;
	}
	PG_END_TRY();
}

/*
 * Is the change being made by paycons's own code, as the owner, on its own
 * account?  PayconsCallerSearchPath() is non-NULL exactly while owner work
 * runs (as_owner.c).
 */
static bool
money_authority(void)
{
	return PayconsCallerSearchPath() != NULL &&
		GetUserId() == PayconsOwnerOid() &&
		!money_caller_choice;
}

/* A bigint column of paycons.orders in tuple tup */
static int64
money_column(Relation rel, HeapTuple tup, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		isnull;
	Datum		d = heap_getattr(tup, SPI_fnumber(desc, name), desc, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * The guard's money check of a legal change from -> to of the row newtup
 * of rel.  Raises PC020 (a money edge asked for by a role without the
 * owner's privileges), PC021 (forced without a reason) or PC022 (nothing to
 * refund).  Returns true if the change is a forced money edge (to be
 * recorded as such).  Does nothing outside paycons.orders.
 */
bool
PayconsCheckMoneyEdge(Relation rel, HeapTuple newtup, OrderState from,
					  OrderState to)
{
	bool		authority;
	bool		forced = false;
	char	   *order_id;

	if (!PayconsIsMoneyEdge(from, to) && to != OS_REFUNDING)
		return false;
	if (RelationGetRelid(rel) != PayconsRelid("orders"))
		return false;

	authority = money_authority();
	if (authority)
		return false;

	order_id = SPI_getvalue(newtup, RelationGetDescr(rel),
							SPI_fnumber(RelationGetDescr(rel), "order_id"));
	if (PayconsIsMoneyEdge(from, to))
	{
		Oid			actor = PayconsActor();
		const char *reason = PayconsReason();

		if (!has_privs_of_role(actor, PayconsOwnerOid()))
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_MONEY_EDGE_NEEDS_MONEY),
					 errmsg("order \"%s\" cannot move from \"%s\" to \"%s\" without money facts",
							order_id, OrderStateName(from), OrderStateName(to)),
					 errdetail("The edge claims that money moved; role \"%s\" asked for it, and only paycons's money paths take it.",
							   GetUserNameFromId(actor, false)),
					 errhint("Payments and refunds arrive through paycons.apply_callback() or statement reconciliation; the extension owner may force the edge with a reason.")));
		if (reason == NULL || reason[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_FORCED_EDGE_NEEDS_REASON),
					 errmsg("forcing order \"%s\" from \"%s\" to \"%s\" needs a reason",
							order_id, OrderStateName(from), OrderStateName(to)),
					 errdetail("The edge claims that money moved and no money facts back it: it is recorded as forced, with its reason."),
					 errhint("Pass the reason to paycons.transition(), or SET LOCAL paycons.reason before the UPDATE.")));
		forced = true;
	}

	if (to == OS_REFUNDING)
	{
		int64		paid = money_column(rel, newtup, "paid_amount");
		int64		refunded = money_column(rel, newtup, "refunded_amount");

		if (paid <= refunded)
			ereport(ERROR,
					(errcode(ERRCODE_PAYCONS_NOTHING_TO_REFUND),
					 errmsg("order \"%s\" has no money to refund", order_id),
					 errdetail("Moving it from \"%s\" to \"refunding\" needs paid_amount above refunded_amount; they are " INT64_FORMAT " and " INT64_FORMAT ".",
							   OrderStateName(from), paid, refunded),
					 errhint("Money that arrives after an order was closed or cancelled starts its refund by itself, through paycons.apply_callback().")));
	}
	return forced;
}
