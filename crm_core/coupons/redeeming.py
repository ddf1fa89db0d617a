"""Using a coupon at the till or from the POS: checked, then marked used exactly once.

Marking it used is `UPDATE customer_coupons SET status = 'redeemed' ... WHERE id = :id AND
status = 'issued'`: of two tills scanning one coupon at the same moment, one updates the row and the
other finds it already used.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import select

from crm_core import cards, timeline
from crm_core.coupons.benefits import PERCENT_OFF, YEN_OFF, business_day, discount_for, expires_at, starts_at
from crm_core.coupons.codes import MAX_CODE, plain
from crm_core.coupons.definitions import CLAIM, LOTTERY, POINTS, store_ids_of
from crm_core.coupons.issuing import TOKYO, _count, get_by_code
from crm_core.errors import (
    N_,
    AlreadyUsed,
    CouponExpired,
    ExpiredCardToken,
    ExpiredCouponCode,
    InvalidCardToken,
    InvalidInput,
    MinimumNotMet,
    NotFound,
    NotThisCustomer,
    NotThisStore,
    NotYetValid,
)
from crm_core.models import Coupon, CouponDraw, CustomerCoupon, Purchase
from crm_core.uow import UnitOfWork


@dataclass(frozen=True)
class Redemption:
    held: CustomerCoupon
    coupon: Coupon
    discount: int | None  # yen off the purchase; None when it depends on a total not given (a % off)


def code_of(*, uow: UnitOfWork, code: str, secret: str) -> tuple[str, int | None]:
    """What the till scanned or typed: a coupon's own code as it is, or the signed, expiring QR code of a
    coupon opened in LINE, read into the coupon's code and whose it is."""
    text = plain(code)
    if not (text.startswith("KZQ") and len(text) > MAX_CODE):
        return code, None
    try:
        customer_id, held_id = cards.read_bound(secret=secret, purpose=cards.COUPON, code=text, now=uow.now())
    except ExpiredCardToken:
        raise ExpiredCouponCode() from None
    held = uow.session.get(CustomerCoupon, held_id)
    if held is None or held.customer_id != customer_id:
        raise InvalidCardToken(N_("This coupon code is not valid."))
    return held.code, customer_id


def qr_code_for(*, uow: UnitOfWork, held: CustomerCoupon, secret: str) -> str:
    """A signed QR code for the customer's coupon, valid a few minutes (a screenshot is soon useless)."""
    return cards.issue(
        secret=secret, purpose=cards.COUPON, customer_id=held.customer_id, now=uow.now(), bound_to=held.id
    )


def check_redeemable(
    *,
    uow: UnitOfWork,
    held: CustomerCoupon,
    coupon: Coupon,
    store_id: int,
    customer_id: int | None = None,
    total: int | None = None,
    zone: ZoneInfo = TOKYO,
    allowed_stores: set[int] | None = None,
) -> int | None:
    """The discount in yen if the coupon may be used now in this store, or the reason it may not.

    `allowed_stores`: the coupon's stores when the caller already read them (`store_ids_of`).
    """
    if customer_id is not None and held.customer_id != customer_id:
        raise NotThisCustomer()
    if held.status != "issued":
        raise AlreadyUsed()
    now = uow.now()
    if now >= held.expires_at:
        raise CouponExpired()
    start = starts_at(valid_from=coupon.valid_from, zone=zone)
    if start is not None and now < start:
        raise NotYetValid(day=business_day(start, zone).isoformat())
    allowed = store_ids_of(uow=uow, coupon_id=coupon.id) if allowed_stores is None else allowed_stores
    if allowed and store_id not in allowed:
        raise NotThisStore()
    if total is None:
        if coupon.min_purchase > 0:
            raise InvalidInput(N_("This coupon needs the purchase total (at least ¥%(minimum)s)."),
                               minimum=f"{coupon.min_purchase:,}")  # fmt: skip
        if coupon.benefit_kind == PERCENT_OFF:
            return None
        return coupon.benefit_value if coupon.benefit_kind == YEN_OFF else 0
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise InvalidInput(N_("The total is a whole number of yen, 0 or more."))
    if total < coupon.min_purchase:
        raise MinimumNotMet(minimum=f"{coupon.min_purchase:,}")
    return discount_for(kind=coupon.benefit_kind, value=coupon.benefit_value, cap=coupon.benefit_cap, total=total)


def redeem_coupon(
    *,
    uow: UnitOfWork,
    code: str,
    store_id: int,
    customer_id: int | None = None,
    total: int | None = None,
    purchase_id: int | None = None,
    staff_user_id: int | None = None,
    zone: ZoneInfo = TOKYO,
) -> Redemption:
    """Use the coupon with this code once, in this store, with the purchase (its total) when given.

    NotFound for an unknown code; NotThisCustomer, AlreadyUsed, CouponExpired, NotYetValid,
    NotThisStore, MinimumNotMet otherwise. The discount is computed on `total` (the purchase's total
    when only `purchase_id` is given).
    """
    held = get_by_code(uow=uow, code=code)
    if held is None:
        raise NotFound(N_("No coupon with this code."))
    if purchase_id is not None:
        purchase = uow.session.get(Purchase, purchase_id)
        if purchase is None:
            raise NotFound(N_("No such purchase."))
        if customer_id is not None and purchase.customer_id != customer_id:
            raise InvalidInput(N_("This purchase is another customer's."))
        customer_id = purchase.customer_id
        total = purchase.total if total is None else total
    coupon = uow.session.get(Coupon, held.coupon_id)
    discount = check_redeemable(
        uow=uow, held=held, coupon=coupon, store_id=store_id, customer_id=customer_id, total=total, zone=zone
    )
    now = uow.now()
    result = uow.session.execute(
        update(CustomerCoupon)
        .where(CustomerCoupon.id == held.id, CustomerCoupon.status == "issued")
        .values(status="redeemed", redeemed_at=now, store_id=store_id, purchase_id=purchase_id, discount=discount)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyUsed()  # another till used it while this one was checking
    held = uow.session.exec(
        select(CustomerCoupon).where(CustomerCoupon.id == held.id).execution_options(populate_existing=True)
    ).one()
    timeline.record(
        uow=uow,
        kind="coupon_redeemed",
        customer_id=held.customer_id,
        staff_user_id=staff_user_id,
        data={
            "coupon_id": coupon.id,
            "customer_coupon_id": held.id,
            "title": coupon.title,
            "store_id": store_id,
            "discount": discount,
        },  # fmt: skip
    )
    return Redemption(held=held, coupon=coupon, discount=discount)


def held_coupons(*, uow: UnitOfWork, customer_id: int) -> list[tuple[CustomerCoupon, Coupon]]:
    """The coupons the customer can still use, soonest to expire first."""
    query = (
        select(CustomerCoupon, Coupon)
        .join(Coupon, Coupon.id == CustomerCoupon.coupon_id)
        .where(
            CustomerCoupon.customer_id == customer_id,
            CustomerCoupon.status == "issued",
            CustomerCoupon.expires_at > uow.now(),
        )
        .order_by(CustomerCoupon.expires_at, CustomerCoupon.id)
    )
    return list(uow.session.exec(query))


def offered_coupons(*, uow: UnitOfWork, customer_id: int, limit: int = 10, zone: ZoneInfo = TOKYO) -> list[Coupon]:
    """Coupons the customer could get now by claiming, with points or in a lottery (not flows' coupons)."""
    now = uow.now()
    query = (
        select(Coupon)
        .where(Coupon.active.is_(True), Coupon.obtain.in_((CLAIM, POINTS, LOTTERY)))
        .where(Coupon.stock.is_(None) | (Coupon.issued < Coupon.stock))
        .order_by(Coupon.id.desc())
    )
    offered = []
    for coupon in uow.session.exec(query):
        if expires_at(issued_at=now, zone=zone, valid_days=coupon.valid_days, valid_until=coupon.valid_until) <= now:
            continue
        taken = _count(uow, CouponDraw if coupon.obtain == LOTTERY else CustomerCoupon, coupon.id, customer_id)
        if coupon.per_customer_limit is not None and taken >= coupon.per_customer_limit:
            continue
        offered.append(coupon)
        if len(offered) == limit:
            break
    return offered


def restore_coupon(*, uow: UnitOfWork, purchase_id: int, staff_user_id: int | None = None) -> CustomerCoupon | None:
    """Give back the coupon used with a purchase that was undone: usable again (until its own expiry), or None."""
    held = uow.session.exec(
        select(CustomerCoupon).where(CustomerCoupon.purchase_id == purchase_id, CustomerCoupon.status == "redeemed")
    ).first()
    if held is None:
        return None
    result = uow.session.execute(
        update(CustomerCoupon)
        .where(CustomerCoupon.id == held.id, CustomerCoupon.status == "redeemed")
        .values(status="issued", redeemed_at=None, store_id=None, purchase_id=None, discount=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    uow.session.refresh(held)
    timeline.record(
        uow=uow,
        kind="coupon_restored",
        customer_id=held.customer_id,
        staff_user_id=staff_user_id,
        data={"customer_coupon_id": held.id, "purchase_id": purchase_id},
    )
    return held
