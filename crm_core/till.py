"""The till: a sale (purchase, optionally paid in part with points and a coupon) and undoing today's mistaken sale.

A sale is one transaction: the coupon's discount, the purchase with the points the customer pays with
(spent before its own points are granted, so a sale never pays with what it earns), the coupon marked
used with that purchase, and the caller's `notify` queuing the receipt, all or nothing: a sale that
fails leaves the coupon unused, and of two sales using one coupon at once (a double scan, two tills)
one records and the other is refused with nothing recorded. The purchase is idempotent on
`till:<key>`, so the same form posted twice (a double tap, a reload) records and credits once and
answers the same. Points are earned on the yen paid or on the whole total, as the program says (`earn_on`).

With a coupon, the price staff enter is the total before it: the coupon checks its minimum against
that price and computes its discount on it (like `POST /api/v1/coupons/redeem` with a `total`); the
purchase's `total` is the price minus the discount (what the customer pays, in yen and points, the
figure refunds, spend and points count), and `discount` is kept with the purchase and with the
redeemed coupon. So the discount never earns points, and the points paid with are at most the total
after the discount.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import select

from crm_core import coupons, customers, loyalty, points, purchases, timeline
from crm_core.errors import (
    N_,
    AlreadyReversed,
    CardNeeded,
    CouponRefused,
    InvalidInput,
    NotFound,
    NotThisCustomer,
    TooLateToUndo,
)
from crm_core.models import Coupon, CouponStore, Customer, CustomerCoupon, PointAccount, PointEntry, Purchase, Refund
from crm_core.uow import UnitOfWork

SOURCE = "till"


@dataclass(frozen=True)
class SaleResult:
    purchase_id: int
    total: int
    points_earned: int
    points_spent: int
    points_balance: int
    created: bool
    price: int = 0  # before the coupon: total + discount
    discount: int = 0
    coupon_title: str | None = None


def check_points_payment(*, points_to_spend: int, card_shown: bool, may_override: bool, reason: str | None) -> str:
    """Paying with points needs the card itself (its live QR code), or an admin's reason; returns the reason.

    A member number alone earns points but cannot spend them (it is printed on receipts and easy to learn).
    """
    if points_to_spend <= 0 or card_shown:
        return ""
    if not may_override:
        raise CardNeeded()
    reason = (reason or "").strip()[:200]
    if not reason:
        raise InvalidInput(N_("Type a reason to let the customer pay with points without the card."))
    return reason


def sell(
    *,
    uow_factory,
    customer_id: int,
    store_id: int,
    staff_user_id: int | None,
    key: str,
    total: int,
    items: list[purchases.Item] | None = None,
    points_to_spend: int = 0,
    zone: ZoneInfo,
    notify: Callable[[UnitOfWork, purchases.PurchaseResult, int], object] | None = None,
    without_card_reason: str = "",
    coupon_code: str | None = None,
    secret: str = "",
) -> SaleResult:
    """Record a till sale once per `key`; InsufficientPoints (nothing recorded) when the points are not there.

    `total` is the price before the coupon (`coupon_code`: its code as typed, or the signed QR code of a
    coupon opened in LINE, read with `secret`); a coupon that may not be used here and now raises its
    CouponRefused, and nothing is recorded. `without_card_reason`: why an admin let the customer pay with
    points without showing the card (kept).
    """
    external_id = f"till:{key}"
    for attempt in (1, 2):
        with uow_factory() as uow:
            try:
                existing = purchases.get_by_external_id(uow=uow, external_id=external_id)
                if existing is not None:
                    return _answer_again(uow, existing, customer_id)
                result = _sell_in(
                    uow,
                    customer_id=customer_id,
                    store_id=store_id,
                    staff_user_id=staff_user_id,
                    external_id=external_id,
                    price=total,
                    items=items or [],
                    points_to_spend=points_to_spend,
                    zone=zone,
                    coupon_code=coupon_code,
                    secret=secret,
                    without_card_reason=without_card_reason,
                )
                if notify is not None:
                    notify(uow, result.purchase_result, points_to_spend)
                uow.commit()
                return result.sale
            except IntegrityError:
                if attempt == 2:  # the retry finds the winner's purchase: it cannot lose the race again
                    raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Sold:
    sale: SaleResult
    purchase_result: purchases.PurchaseResult


def _answer_again(uow: UnitOfWork, purchase: Purchase, customer_id: int) -> SaleResult:
    """The same form posted again: the sale it recorded, nothing more."""
    if purchase.customer_id != customer_id:
        raise InvalidInput(N_("This form was already used for another customer. Please reload the page."))
    held = uow.session.exec(select(CustomerCoupon).where(CustomerCoupon.purchase_id == purchase.id)).first()
    coupon = uow.session.get(Coupon, held.coupon_id) if held is not None else None
    return SaleResult(
        purchase_id=purchase.id,
        total=purchase.total,
        points_earned=purchase.points_earned,
        points_spent=purchase.points_used,
        points_balance=points.balance_of(uow=uow, customer_id=customer_id),
        created=False,
        price=purchase.total + purchase.discount,
        discount=purchase.discount,
        coupon_title=coupon.title if coupon is not None else None,
    )


def _sell_in(
    uow: UnitOfWork,
    *,
    customer_id: int,
    store_id: int,
    staff_user_id: int | None,
    external_id: str,
    price: int,
    items: list[purchases.Item],
    points_to_spend: int,
    zone: ZoneInfo,
    coupon_code: str | None,
    secret: str,
    without_card_reason: str,
) -> _Sold:
    discount, coupon = 0, None
    if coupon_code:
        coupon_code, holder = coupons.code_of(uow=uow, code=coupon_code, secret=secret)
        if holder is not None and holder != customer_id:
            raise NotThisCustomer()
        held = coupons.get_by_code(uow=uow, code=coupon_code)
        if held is None:
            raise NotFound(N_("No coupon with this code."))
        coupon = uow.session.get(Coupon, held.coupon_id)
        discount = coupons.check_redeemable(
            uow=uow, held=held, coupon=coupon, store_id=store_id, customer_id=customer_id, total=price, zone=zone
        )
    if points_to_spend > price - discount:
        raise InvalidInput(N_("Points used cannot be more than the total after the coupon."))
    result = purchases.record_purchase(
        uow=uow,
        customer_id=customer_id,
        store_id=store_id,
        total=price - discount,
        discount=discount,
        items=items,
        external_id=external_id,
        staff_user_id=staff_user_id,
        source=SOURCE,
        zone=zone,
        points_used=points_to_spend,
    )
    if coupon is not None:  # marked used from `issued` only: of two sales at once, the second is refused here
        coupons.redeem_coupon(
            uow=uow,
            code=coupon_code,
            store_id=store_id,
            customer_id=customer_id,
            total=price,
            purchase_id=result.purchase.id,
            staff_user_id=staff_user_id,
            zone=zone,
        )
    if without_card_reason:
        timeline.record(
            uow=uow,
            kind="points_without_card",
            customer_id=customer_id,
            staff_user_id=staff_user_id,
            data={"purchase_id": result.purchase.id, "points": points_to_spend, "reason": without_card_reason},
        )
    sale = SaleResult(
        purchase_id=result.purchase.id,
        total=result.purchase.total,
        points_earned=result.points_earned,
        points_spent=result.purchase.points_used,
        points_balance=result.points_balance,
        created=True,
        price=price,
        discount=discount,
        coupon_title=coupon.title if coupon is not None else None,
    )
    return _Sold(sale=sale, purchase_result=result)


@dataclass(frozen=True)
class TodaysSale:
    purchase_id: int
    occurred_at: datetime
    total: int
    points_earned: int
    points_spent: int
    spend_entry_id: int | None  # the points payment, while it can still be given back
    undone: bool
    discount: int = 0  # yen a coupon took off (the price was total + discount)


def _start_of_today(uow: UnitOfWork, zone: ZoneInfo) -> datetime:
    return datetime.combine(uow.now().astimezone(zone).date(), time(0), zone)


def _is_today(uow: UnitOfWork, moment: datetime, zone: ZoneInfo) -> bool:
    return moment.astimezone(zone).date() == uow.now().astimezone(zone).date()


def _spends_of(uow: UnitOfWork, purchase_id: int) -> list[PointEntry]:
    query = select(PointEntry).where(PointEntry.purchase_id == purchase_id, PointEntry.kind == "spend")
    return list(uow.session.exec(query.order_by(PointEntry.id)))


def _reversed_ids(uow: UnitOfWork, entry_ids: list[int]) -> set[int]:
    if not entry_ids:
        return set()
    query = select(PointEntry.reverses_entry_id).where(PointEntry.reverses_entry_id.in_(entry_ids))
    return set(uow.session.exec(query))


def _open_spends_of(uow: UnitOfWork, purchase_ids: list[int]) -> dict[int, list[PointEntry]]:
    """The spends of these purchases not given back yet, by purchase, oldest first: one query for them all."""
    if not purchase_ids:
        return {}
    reversal = aliased(PointEntry)
    query = (
        select(PointEntry)
        .outerjoin(reversal, reversal.reverses_entry_id == PointEntry.id)
        .where(PointEntry.purchase_id.in_(purchase_ids), PointEntry.kind == "spend", reversal.id.is_(None))
        .order_by(PointEntry.id)
    )
    found: dict[int, list[PointEntry]] = {}
    for entry in uow.session.exec(query):
        found.setdefault(entry.purchase_id, []).append(entry)
    return found


def _returned_of(uow: UnitOfWork, purchase_ids: list[int]) -> dict[int, int]:
    """Points of these purchases' points payments given back by refunds, by purchase."""
    if not purchase_ids:
        return {}
    query = (
        select(PointEntry.purchase_id, func.sum(PointEntry.amount))
        .where(PointEntry.purchase_id.in_(purchase_ids), PointEntry.kind == "return")
        .group_by(PointEntry.purchase_id)
    )
    return {purchase_id: int(total) for purchase_id, total in uow.session.exec(query)}


def todays_sales(*, uow: UnitOfWork, customer_id: int, store_id: int, zone: ZoneInfo) -> list[TodaysSale]:
    """The till sales recorded today for this customer at this store, newest first."""
    query = select(Purchase).where(
        Purchase.customer_id == customer_id,
        Purchase.store_id == store_id,
        Purchase.source == SOURCE,
        Purchase.created_at >= _start_of_today(uow, zone),
    )
    today = list(uow.session.exec(query.order_by(Purchase.created_at.desc(), Purchase.id.desc())))
    spends = _open_spends_of(uow, [purchase.id for purchase in today])
    returned = _returned_of(uow, [purchase.id for purchase in today if purchase.refunded_total])
    free = [purchase.id for purchase in today if purchase.total == 0]  # undone once their coupon came back
    with_coupon = set(
        uow.session.exec(select(CustomerCoupon.purchase_id).where(CustomerCoupon.purchase_id.in_(free))) if free else ()
    )
    sales = []
    for purchase in today:
        open_spends = spends.get(purchase.id, [])
        spent = max(-sum(entry.amount for entry in open_spends) - returned.get(purchase.id, 0), 0)
        sales.append(
            TodaysSale(
                purchase_id=purchase.id,
                occurred_at=purchase.occurred_at,
                total=purchase.total,
                points_earned=purchase.points_earned,
                points_spent=spent,
                spend_entry_id=open_spends[0].id if open_spends and spent else None,
                undone=purchase.refunded_total >= purchase.total if purchase.total else purchase.id not in with_coupon,
                discount=purchase.discount,
            )
        )
    return sales


EXPIRED_SHOWN = timedelta(days=30)  # coupons that expired this recently are still listed, to say why not


@dataclass(frozen=True)
class HeldCoupon:
    """A coupon the customer holds, as the till shows it: what it gives, and why it cannot be used here if not."""

    held: CustomerCoupon
    coupon: Coupon
    discount: int | None  # yen off; None when it depends on the total (a % off, or a minimum to check)
    refused: CouponRefused | None  # why it cannot be used here and now


def till_coupons(*, uow: UnitOfWork, customer_id: int, store_id: int, zone: ZoneInfo) -> list[HeldCoupon]:
    """The customer's unused coupons (and those expired in the last 30 days), usable ones first, soonest to expire."""
    query = (
        select(CustomerCoupon, Coupon)
        .join(Coupon, Coupon.id == CustomerCoupon.coupon_id)
        .where(
            CustomerCoupon.customer_id == customer_id,
            CustomerCoupon.status == "issued",
            CustomerCoupon.expires_at > uow.now() - EXPIRED_SHOWN,
        )
        .order_by(CustomerCoupon.expires_at, CustomerCoupon.id)
        .limit(50)
    )
    rows = list(uow.session.exec(query))
    stores_of: dict[int, set[int]] = {}
    if rows:  # every coupon's stores in one query
        links = select(CouponStore).where(CouponStore.coupon_id.in_({coupon.id for _, coupon in rows}))
        for link in uow.session.exec(links):
            stores_of.setdefault(link.coupon_id, set()).add(link.store_id)
    shown = []
    for held, coupon in rows:
        discount, refused = None, None
        try:
            discount = coupons.check_redeemable(
                uow=uow,
                held=held,
                coupon=coupon,
                store_id=store_id,
                customer_id=customer_id,
                zone=zone,
                allowed_stores=stores_of.get(coupon.id, set()),
            )
        except CouponRefused as why:
            refused = why
        except InvalidInput:  # a minimum purchase: checked against the total when the sale is recorded
            pass
        shown.append(HeldCoupon(held=held, coupon=coupon, discount=discount, refused=refused))
    return sorted(shown, key=lambda entry: entry.refused is not None)


@dataclass(frozen=True)
class Panel:
    """What the till shows about a customer."""

    customer: Customer
    program: loyalty.Program
    balance: points.Balance
    visits: list[customers.PurchaseLine]
    coupons: list[HeldCoupon]
    stamps: int
    sales: list[TodaysSale]


def panel(*, uow: UnitOfWork, customer_id: int, store_id: int, zone: ZoneInfo, visits: int = 5) -> Panel:
    """The customer at the till, read in one transaction; NotFound or Erased like `customers.check_customer`."""
    # the customer and their points account in one query; held here, so the lookups below (check_customer,
    # points.details) find them in the session instead of asking again
    row = uow.session.exec(
        select(Customer, PointAccount)
        .outerjoin(PointAccount, PointAccount.customer_id == Customer.id)
        .where(Customer.id == customer_id)
    ).first()
    customer = customers.check_customer(uow=uow, customer_id=customer_id)
    account = row[1] if row is not None else None
    return Panel(
        customer=customer,
        program=loyalty.get_program(uow=uow),
        balance=points.details(uow=uow, customer_id=customer_id),
        visits=customers.recent_purchases(uow=uow, customer_id=customer_id, limit=visits),
        coupons=till_coupons(uow=uow, customer_id=customer_id, store_id=store_id, zone=zone),
        stamps=account.stamps if account else 0,
        sales=todays_sales(uow=uow, customer_id=customer_id, store_id=store_id, zone=zone),
    )


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Please give a reason for the undo."))
    return reason[:200]


def _todays_sale(uow: UnitOfWork, *, purchase_id: int, customer_id: int, store_id: int, zone: ZoneInfo) -> Purchase:
    purchase = uow.session.get(Purchase, purchase_id)
    if purchase is None or (purchase.customer_id, purchase.store_id, purchase.source) != (
        customer_id,
        store_id,
        SOURCE,
    ):
        raise NotFound(N_("No such sale for this customer at this store."))
    if not _is_today(uow, purchase.created_at, zone):
        raise TooLateToUndo()
    return purchase


@dataclass(frozen=True)
class UndoResult:
    points_reversed: int  # points taken back from what the sale earned
    points_returned: int  # points given back from what the sale spent
    shortfall: int  # earned points the customer already used, so not taken back
    points_balance: int


def undo_sale(
    *,
    uow: UnitOfWork,
    customer_id: int,
    store_id: int,
    purchase_id: int,
    staff_user_id: int,
    reason: str,
    zone: ZoneInfo,
) -> UndoResult:
    """Undo today's mistaken till sale: a full refund (taking back its points) and its points payment given back."""
    reason = _check_reason(reason)
    purchase = _todays_sale(uow, purchase_id=purchase_id, customer_id=customer_id, store_id=store_id, zone=zone)
    external_id = f"till-undo:{purchase.id}"
    if uow.session.exec(select(Refund.id).where(Refund.external_id == external_id)).first() is not None:
        raise AlreadyReversed()
    if purchase.total == 0:  # a coupon paid for all of it: nothing to refund, the coupon comes back
        return _undo_free_sale(uow, purchase=purchase, staff_user_id=staff_user_id, reason=reason)
    if purchase.refunded_total >= purchase.total:
        raise AlreadyReversed()
    returned = 0
    spends = _spends_of(uow, purchase.id)
    given_back = _reversed_ids(uow, [entry.id for entry in spends])
    for entry in spends:
        if entry.id not in given_back:
            reversal = points.reverse(
                uow=uow,
                entry_id=entry.id,
                idempotency_key=f"till-undo:{entry.id}",
                reason=reason,
                staff_user_id=staff_user_id,
                same_day_in=zone,
            )
            returned += reversal.amount
    refund = purchases.refund_purchase(
        uow=uow, purchase=purchase, amount=purchase.total - purchase.refunded_total, external_id=external_id
    )
    coupons.restore_coupon(uow=uow, purchase_id=purchase.id, staff_user_id=staff_user_id)
    timeline.record(
        uow=uow,
        kind="till_undo",
        customer_id=customer_id,
        staff_user_id=staff_user_id,
        data={"purchase_id": purchase.id, "store_id": store_id, "reason": reason, "points_returned": returned},
    )
    return UndoResult(
        points_reversed=refund.points_reversed,
        points_returned=returned + refund.points_returned,
        shortfall=refund.shortfall,
        points_balance=points.balance_of(uow=uow, customer_id=customer_id),
    )


def _undo_free_sale(uow: UnitOfWork, *, purchase: Purchase, staff_user_id: int, reason: str) -> UndoResult:
    if coupons.restore_coupon(uow=uow, purchase_id=purchase.id, staff_user_id=staff_user_id) is None:
        raise AlreadyReversed()
    timeline.record(
        uow=uow,
        kind="till_undo",
        customer_id=purchase.customer_id,
        staff_user_id=staff_user_id,
        data={"purchase_id": purchase.id, "store_id": purchase.store_id, "reason": reason, "points_returned": 0},
    )
    return UndoResult(
        points_reversed=0,
        points_returned=0,
        shortfall=0,
        points_balance=points.balance_of(uow=uow, customer_id=purchase.customer_id),
    )


def give_back_points(
    *,
    uow: UnitOfWork,
    customer_id: int,
    store_id: int,
    entry_id: int,
    staff_user_id: int,
    reason: str,
    zone: ZoneInfo,
) -> PointEntry:
    """Undo only the points payment of today's till sale (the purchase stays)."""
    reason = _check_reason(reason)
    entry = uow.session.get(PointEntry, entry_id)
    if entry is None or entry.kind != "spend" or entry.customer_id != customer_id or entry.purchase_id is None:
        raise NotFound(N_("No such sale for this customer at this store."))
    _todays_sale(uow, purchase_id=entry.purchase_id, customer_id=customer_id, store_id=store_id, zone=zone)
    if _reversed_ids(uow, [entry.id]):
        raise AlreadyReversed()
    return points.reverse(
        uow=uow,
        entry_id=entry.id,
        idempotency_key=f"till-undo:{entry.id}",
        reason=reason,
        staff_user_id=staff_user_id,
        same_day_in=zone,
    )
