"""The point card on LINE (`ポイント`) and the purchase history (`履歴`)."""

from __future__ import annotations

from datetime import timedelta

from bot.flows import registration
from bot.handlers.context import EventContext
from crm_core import cards, coupons, loyalty, points, purchases, stamps
from crm_core.models import PointAccount

SHOWN_REWARDS = 5  # the soonest to expire; the card says how many more (one row each would outgrow LINE's 30 KB)


def _member(ctx: EventContext):
    if not registration.require_consent(ctx):
        return None
    customer = ctx.customer
    if customer is None:
        ctx.reply("need_membership")
    return customer


def card_code(ctx: EventContext, customer_id: int) -> str:
    return cards.issue(secret=ctx.settings.secret_key, purpose=cards.CARD, customer_id=customer_id, now=ctx.uow.now())


def show_card(ctx: EventContext, params: dict | None = None) -> None:
    """Balance, tier, expiring points and a fresh QR code (a new one on every tap)."""
    customer = _member(ctx)
    if customer is None:
        return
    program = loyalty.get_program(uow=ctx.uow)
    code = card_code(ctx, customer.id)
    balance = points.details(uow=ctx.uow, customer_id=customer.id)
    spend = purchases.rolling_spend(uow=ctx.uow, customer_id=customer.id)
    upcoming = program.next_tier(spend)
    account = ctx.uow.session.get(PointAccount, customer.id)
    rewards = stamps.open_rewards(uow=ctx.uow, customer_id=customer.id)  # soonest to expire first
    # coupons the points can be exchanged for now: the card leads to them (the cheapest says from how many points)
    costs = [
        c.points_cost
        for c in coupons.offered_coupons(uow=ctx.uow, customer_id=customer.id, zone=ctx.settings.zone)
        if c.obtain == "points"
    ]
    ctx.reply(
        "point_card",
        mode=program.mode,
        qr_url=f"{ctx.settings.public_url}/card/{code}.png",
        valid_until=cards.expires_at(code),
        available=balance.available,
        pending=balance.pending,
        expiring=[(expiry - timedelta(seconds=1), amount) for expiry, amount in balance.expiring[:2]],
        tier=customer.tier,
        next_tier=upcoming[0].name if upcoming else None,
        next_tier_missing=upcoming[1] if upcoming else 0,
        member_number=customer.member_number,
        stamps=account.stamps if account else 0,
        stamp_goal=program.stamp_goal,
        rewards=rewards[:SHOWN_REWARDS],
        more_rewards=len(rewards[SHOWN_REWARDS:]),
        exchange_from=min(costs) if costs and program.mode != "stamps" else None,
    )


def show_history(ctx: EventContext, params: dict | None = None) -> None:
    """The last five purchases with their points."""
    customer = _member(ctx)
    if customer is None:
        return
    recent = purchases.recent_purchases(uow=ctx.uow, customer_id=customer.id, limit=5)
    ctx.reply("history", purchases=[_history_line(purchase, store) for purchase, store in recent])


def _history_line(purchase, store) -> dict:
    """A purchase as the history shows it: cancelled, partly refunded (with what remains) or as bought."""
    kept = purchase.total - purchase.refunded_total
    if purchase.refunded_total and kept <= 0:
        status = "cancelled"
    elif purchase.refunded_total:
        status = "partly_refunded"
    else:
        status = "bought"
    return {
        "occurred_at": purchase.occurred_at,
        "store": store.name,
        "total": purchase.total,
        "refunded": purchase.refunded_total,
        "points": purchases.points_earned_on(purchase, kept),
        "status": status,
    }
