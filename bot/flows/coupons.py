"""Coupons on LINE (`クーポン`): the ones held and the ones to get, claiming one, opening one at the till."""

from __future__ import annotations

from datetime import timedelta

from bot.flows import registration
from bot.handlers.context import EventContext
from crm_core import cards, coupons
from crm_core.errors import CouponRefused, InsufficientPoints, NotFound
from crm_core.models import Coupon, CustomerCoupon

CAROUSEL = 10  # bubbles shown (LINE allows 12); held coupons first, soonest to expire


def _member(ctx: EventContext):
    if not registration.require_consent(ctx):
        return None
    customer = ctx.customer
    if customer is None:
        ctx.reply("need_membership")
    return customer


def benefit(coupon: Coupon) -> dict:
    """What a template needs to say the benefit and its conditions."""
    return {
        "title": coupon.title,
        "image_url": coupon.image_url,
        "kind": coupon.benefit_kind,
        "value": coupon.benefit_value,
        "cap": coupon.benefit_cap,
        "item": coupon.benefit_item or "",
        "minimum": coupon.min_purchase,
    }


def preview(renderer, coupon: Coupon, *, locale: str, last_day) -> list[tuple[str, list[dict]]]:
    """The coupon's bubble of the `クーポン` carousel as a customer would see it, for the marketer's console:
    ("offered", messages) unless only flows issue it, then ("held", messages) once held, valid until `last_day`."""
    shown = []
    if coupon.obtain != coupons.definitions.FLOW:
        offered = {**benefit(coupon), "id": coupon.id, "obtain": coupon.obtain, "points": coupon.points_cost or 0}
        shown.append(("offered", renderer.render("coupons", locale=locale, held=[], offered=[offered])))
    held = {**benefit(coupon), "id": 0, "last_day": last_day}
    shown.append(("held", renderer.render("coupons", locale=locale, held=[held], offered=[])))
    return shown


def show_coupons(ctx: EventContext, params: dict | None = None) -> None:
    """A carousel of the coupons the customer holds, then those they can get now."""
    customer = _member(ctx)
    if customer is None:
        return
    held = coupons.held_coupons(uow=ctx.uow, customer_id=customer.id)[:CAROUSEL]
    offered = coupons.offered_coupons(uow=ctx.uow, customer_id=customer.id, limit=CAROUSEL - len(held))
    ctx.reply(
        "coupons",
        held=[
            {**benefit(coupon), "id": mine.id, "last_day": mine.expires_at - timedelta(microseconds=1)}
            for mine, coupon in held
        ],
        offered=[
            {**benefit(coupon), "id": coupon.id, "obtain": coupon.obtain, "points": coupon.points_cost or 0}
            for coupon in offered
        ],
    )


def get_coupon(ctx: EventContext, params: dict) -> None:
    """Claim, exchange points for, or draw the coupon the customer tapped; then show it (or why not)."""
    customer = _member(ctx)
    if customer is None:
        return
    coupon = _coupon(ctx, params.get("coupon"))
    if coupon is None:
        ctx.reply("coupon_refused", reason="not_available")
        return
    key = f"line:{ctx.event.get('webhookEventId') or ctx.event.get('timestamp')}"
    zone = ctx.settings.zone
    try:
        if coupon.obtain == coupons.definitions.POINTS:
            held = coupons.exchange_points(
                uow=ctx.uow, coupon_id=coupon.id, customer_id=customer.id, idempotency_key=key, zone=zone
            ).coupon
        elif coupon.obtain == coupons.definitions.LOTTERY:
            draw = coupons.draw_lottery(
                uow=ctx.uow, coupon_id=coupon.id, customer_id=customer.id, idempotency_key=key, zone=zone
            )
            if not draw.won:
                ctx.reply("coupon_lost", title=coupon.title)
                return
            held = draw.coupon
        else:
            held = coupons.claim_coupon(
                uow=ctx.uow, coupon_id=coupon.id, customer_id=customer.id, idempotency_key=key, zone=zone
            ).coupon
    except InsufficientPoints as refused:
        ctx.reply("coupon_refused", reason="insufficient_points", points=coupon.points_cost, **refused.params)
        return
    except CouponRefused as refused:
        ctx.reply("coupon_refused", reason=refused.code)
        return
    _show(ctx, held, coupon, won=coupon.obtain == coupons.definitions.LOTTERY)


def open_coupon(ctx: EventContext, params: dict) -> None:
    """One of the customer's coupons, with its code and a QR code valid a few minutes, to show at the till."""
    customer = _member(ctx)
    if customer is None:
        return
    held = _held(ctx, params.get("id"))
    if held is None or held.customer_id != customer.id:
        ctx.reply("coupon_refused", reason="not_available")
        return
    if held.status != "issued":
        ctx.reply("coupon_refused", reason="already_used")
        return
    if held.expires_at <= ctx.uow.now():
        ctx.reply("coupon_refused", reason="expired")
        return
    _show(ctx, held, ctx.uow.session.get(Coupon, held.coupon_id))


def _show(ctx: EventContext, held: CustomerCoupon, coupon: Coupon, *, won: bool = False) -> None:
    qr = coupons.qr_code_for(uow=ctx.uow, held=held, secret=ctx.settings.secret_key)
    ctx.reply(
        "coupon",
        **benefit(coupon),
        id=held.id,
        won=won,
        code=coupons.display_code(held.code, prefix=coupon.code_prefix),
        qr_url=f"{ctx.settings.public_url}/coupon/{qr}.png",
        qr_valid_until=cards.expires_at(qr),
        last_day=held.expires_at - timedelta(microseconds=1),
    )


def _whole(raw) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None


def _coupon(ctx: EventContext, raw) -> Coupon | None:
    coupon_id = _whole(raw)
    try:
        return coupons.check_coupon(uow=ctx.uow, coupon_id=coupon_id) if coupon_id else None
    except NotFound:
        return None


def _held(ctx: EventContext, raw) -> CustomerCoupon | None:
    held_id = _whole(raw)
    return ctx.uow.session.get(CustomerCoupon, held_id) if held_id else None


ACTIONS = {"coupon_get": get_coupon, "coupon_open": open_coupon}
