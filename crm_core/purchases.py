"""Purchases: recorded once (idempotent on external_id), earning points by the shop's program.

Tiers come from the rolling 12-month spend; the tier before a purchase sets its multiplier, and the
purchase itself may move the customer up. Refunds reverse the points of the refunded part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import points, stamps, timeline
from crm_core.customers import check_customer
from crm_core.errors import N_, Conflict, InvalidInput, NotFound
from crm_core.loyalty import Program, get_program
from crm_core.models import Customer, Purchase, PurchaseItem, Refund, Reward, Store
from crm_core.uow import UnitOfWork

TIER_WINDOW = timedelta(days=365)
MAX_TOTAL = 100_000_000  # ¥100M: anything above is a typo


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: int


@dataclass
class PurchaseResult:
    purchase: Purchase
    points_earned: int
    points_balance: int
    created: bool
    tier_before: str
    tier_after: str
    reward: Reward | None = None
    stamps: int | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"id": self.purchase.id, "points_earned": self.points_earned, "points_balance": self.points_balance}


def _int(value, what: str, *, minimum: int = 0, maximum: int = MAX_TOTAL) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise InvalidInput(N_("%(what)s must be a whole number of yen from %(min)d."), what=what, min=minimum)
    return value


def check_items(total: int, items: list[Item]) -> None:
    for item in items:
        _int(item.quantity, "quantity", minimum=1, maximum=10_000)
        _int(item.unit_price, "unit_price")
        if not item.sku or not item.name:
            raise InvalidInput(N_("Every item needs a sku and a name."))
    if items and sum(item.quantity * item.unit_price for item in items) != total:
        raise InvalidInput(N_("The items do not add up to the total."))


def rolling_spend(*, uow: UnitOfWork, customer_id: int, until: datetime | None = None) -> int:
    """Yen spent over the 12 months up to `until` (refunds taken off)."""
    until = until or uow.now()
    spent = uow.session.exec(
        select(func.sum(Purchase.total - Purchase.refunded_total)).where(
            Purchase.customer_id == customer_id,
            Purchase.occurred_at > until - TIER_WINDOW,
            Purchase.occurred_at <= until,
        )
    ).one()
    return int(spent or 0)


def refresh_tier(*, uow: UnitOfWork, customer: Customer, program: Program | None = None) -> str:
    """Move the customer to the tier their last 12 months earn (up or down); returns the tier."""
    program = program or get_program(uow=uow)
    tier = program.tier_for(rolling_spend(uow=uow, customer_id=customer.id)).name
    if tier != customer.tier:
        timeline.record(uow=uow, kind="tier_changed", customer_id=customer.id, data={"from": customer.tier, "to": tier})
        customer.tier = tier
    return tier


def get_by_external_id(*, uow: UnitOfWork, external_id: str) -> Purchase | None:
    return uow.session.exec(select(Purchase).where(Purchase.external_id == external_id)).first()


def _existing_answer(uow: UnitOfWork, purchase: Purchase, customer_id: int, total: int) -> PurchaseResult:
    if purchase.customer_id != customer_id or purchase.total != total:
        raise Conflict(N_("A different purchase was already recorded with this external_id."))
    customer = uow.session.get(Customer, customer_id)
    return PurchaseResult(
        purchase=purchase,
        points_earned=purchase.points_earned,
        points_balance=points.balance_of(uow=uow, customer_id=customer_id),
        created=False,
        tier_before=customer.tier,
        tier_after=customer.tier,
    )


def record_purchase(
    *,
    uow: UnitOfWork,
    customer_id: int,
    store_id: int,
    total: int,
    occurred_at: datetime | None = None,
    items: list[Item] | None = None,
    external_id: str | None = None,
    staff_user_id: int | None = None,
    source: str = "api",
    grant_points: bool = True,
    zone: ZoneInfo | None = None,
) -> PurchaseResult:
    """Record a purchase and grant its points in one transaction; the same external_id answers the same.

    Two requests racing with one external_id: the unique constraint lets one insert win; the caller
    retries the loser in a new transaction, which then finds the purchase and answers the same.
    """
    total = _int(total, "total")
    items = items or []
    check_items(total, items)
    if external_id is not None:
        external_id = external_id.strip()
        if not external_id or len(external_id) > 100:
            raise InvalidInput(N_("external_id must be 1 to 100 characters."))
        existing = get_by_external_id(uow=uow, external_id=external_id)
        if existing is not None:
            return _existing_answer(uow, existing, customer_id, total)
    customer = check_customer(uow=uow, customer_id=customer_id)
    if uow.session.get(Store, store_id) is None:
        raise NotFound(N_("No such store."))
    now = uow.now()
    occurred_at = occurred_at or now
    if occurred_at > now + timedelta(minutes=10):
        raise InvalidInput(N_("The purchase time is in the future."))
    program = get_program(uow=uow)
    tier_before = customer.tier
    purchase = Purchase(
        external_id=external_id,
        customer_id=customer.id,
        store_id=store_id,
        total=total,
        staff_user_id=staff_user_id,
        source=source,
        occurred_at=occurred_at,
        created_at=now,
    )
    uow.session.add(purchase)
    uow.session.flush()  # the unique external_id decides a race here
    uow.session.add_all(PurchaseItem(purchase_id=purchase.id, **item.__dict__) for item in items)
    result = PurchaseResult(
        purchase=purchase, points_earned=0, points_balance=0, created=True, tier_before=tier_before, tier_after=""
    )
    if grant_points and program.mode == "points":
        earned = program.points_for(total, program.tier_named(tier_before).multiplier_pct)
        if earned > 0:
            points.grant(
                uow=uow,
                customer_id=customer.id,
                amount=earned,
                idempotency_key=f"purchase:{purchase.id}",
                program=program,
                zone=zone,
                occurred_at=occurred_at,
                purchase_id=purchase.id,
                store_id=store_id,
                staff_user_id=staff_user_id,
            )
        purchase.points_earned = earned
        result.points_earned = earned
    elif grant_points and program.mode == "stamps":
        stamp = stamps.stamp_visit(
            uow=uow,
            customer_id=customer.id,
            program=program,
            zone=zone or ZoneInfo("Asia/Tokyo"),
            store_id=store_id,
            purchase_id=purchase.id,
            staff_user_id=staff_user_id,
            when=occurred_at,
        )
        result.stamps, result.reward = stamp.stamps, stamp.reward
    result.points_balance = points.balance_of(uow=uow, customer_id=customer.id)
    result.tier_after = refresh_tier(uow=uow, customer=customer, program=program)
    timeline.record(
        uow=uow,
        kind="purchase",
        customer_id=customer.id,
        staff_user_id=staff_user_id,
        data={"purchase_id": purchase.id, "total": total, "points": result.points_earned, "store_id": store_id},
    )
    return result


def record_purchase_once(*, uow_factory, before_commit=None, **kwargs) -> PurchaseResult:
    """record_purchase in its own transaction, safe when the same external_id arrives many times at once.

    The losers of the unique-constraint race are retried once and then answer like the winner.
    `before_commit(uow, result)` runs inside the transaction (to queue a receipt, say).
    """
    for attempt in (1, 2):
        with uow_factory() as uow:
            try:
                result = record_purchase(uow=uow, **kwargs)
                if before_commit is not None and result.created:
                    before_commit(uow, result)
                uow.commit()
                return result
            except IntegrityError:
                if attempt == 2 or not kwargs.get("external_id"):
                    raise
    raise AssertionError("unreachable")


@dataclass
class RefundResult:
    refund: Refund
    points_reversed: int
    points_balance: int
    created: bool
    shortfall: int = 0

    def as_dict(self) -> dict:
        return {
            "id": self.refund.id,
            "purchase_id": self.refund.purchase_id,
            "amount": self.refund.amount,
            "points_reversed": self.points_reversed,
            "points_balance": self.points_balance,
        }


def refund_purchase(
    *, uow: UnitOfWork, purchase: Purchase, amount: int, external_id: str, occurred_at: datetime | None = None
) -> RefundResult:
    """Give back `amount` yen of a purchase and reverse the points of that part (idempotent on external_id).

    Points kept are floor(earned x (total - refunded) / total), so several partial refunds add up
    exactly to a full one. Points the customer already used are not clawed below zero: the refund
    records the shortfall.
    """
    existing = uow.session.exec(select(Refund).where(Refund.external_id == external_id)).first()
    if existing is not None:
        if existing.purchase_id != purchase.id or existing.amount != amount:
            raise Conflict(N_("A different refund was already recorded with this external_id."))
        return RefundResult(
            refund=existing,
            points_reversed=existing.points_reversed,
            points_balance=points.balance_of(uow=uow, customer_id=purchase.customer_id),
            created=False,
        )
    amount = _int(amount, "amount", minimum=1)
    uow.session.refresh(purchase, with_for_update=True)
    existing = uow.session.exec(select(Refund).where(Refund.external_id == external_id)).first()
    if existing is not None:  # the same refund won a race while we waited for the lock
        return refund_purchase(uow=uow, purchase=purchase, amount=amount, external_id=external_id)
    if amount > purchase.total - purchase.refunded_total:
        raise InvalidInput(
            N_("At most %(left)d yen of this purchase can still be refunded."),
            left=purchase.total - purchase.refunded_total,
        )
    before_kept = purchase.points_earned * (purchase.total - purchase.refunded_total) // max(purchase.total, 1)
    purchase.refunded_total += amount
    after_kept = purchase.points_earned * (purchase.total - purchase.refunded_total) // max(purchase.total, 1)
    to_reverse = before_kept - after_kept
    now = uow.now()
    refund = Refund(
        external_id=external_id,
        purchase_id=purchase.id,
        amount=amount,
        occurred_at=occurred_at or now,
        created_at=now,
    )
    uow.session.add(refund)
    uow.session.flush()
    reversed_points = 0
    if to_reverse > 0:
        grant_entry = points.get_entry_by_key(uow=uow, idempotency_key=f"purchase:{purchase.id}")
        entry = points.take_back(
            uow=uow,
            customer_id=purchase.customer_id,
            amount=to_reverse,
            idempotency_key=f"refund:{refund.id}",
            from_entry_id=grant_entry.id if grant_entry else None,
            purchase_id=purchase.id,
            store_id=purchase.store_id,
            reason=f"refund {external_id}",
        )
        reversed_points = -entry.amount if entry else 0
    refund.points_reversed = reversed_points
    customer = uow.session.get(Customer, purchase.customer_id)
    refresh_tier(uow=uow, customer=customer)
    timeline.record(
        uow=uow,
        kind="refund",
        customer_id=purchase.customer_id,
        data={"purchase_id": purchase.id, "amount": amount, "points": reversed_points},
    )
    return RefundResult(
        refund=refund,
        points_reversed=reversed_points,
        points_balance=points.balance_of(uow=uow, customer_id=purchase.customer_id),
        created=True,
        shortfall=to_reverse - reversed_points,
    )


def recent_purchases(*, uow: UnitOfWork, customer_id: int, limit: int = 10) -> list[tuple[Purchase, Store]]:
    query = (
        select(Purchase, Store)
        .join(Store, Store.id == Purchase.store_id)
        .where(Purchase.customer_id == customer_id)
        .order_by(Purchase.occurred_at.desc(), Purchase.id.desc())
        .limit(limit)
    )
    return list(uow.session.exec(query))


def get_purchase(*, uow: UnitOfWork, purchase_id: int) -> Purchase | None:
    return uow.session.get(Purchase, purchase_id)


def list_purchases(
    *, uow: UnitOfWork, customer_id: int, before_id: int | None = None, limit: int = 50, store_id: int | None = None
) -> list[Purchase]:
    """Newest first (by id, so paging is stable); only those of `store_id` when one is given."""
    query = select(Purchase).where(Purchase.customer_id == customer_id)
    if store_id is not None:
        query = query.where(Purchase.store_id == store_id)
    if before_id is not None:
        query = query.where(Purchase.id < before_id)
    return list(uow.session.exec(query.order_by(Purchase.id.desc()).limit(limit)))


def purchase_view(*, uow: UnitOfWork, purchase: Purchase) -> dict:
    store = uow.session.get(Store, purchase.store_id)
    items = uow.session.exec(select(PurchaseItem).where(PurchaseItem.purchase_id == purchase.id)).all()
    refunds = uow.session.exec(select(Refund).where(Refund.purchase_id == purchase.id).order_by(Refund.id)).all()
    return {
        "id": purchase.id,
        "external_id": purchase.external_id,
        "customer_id": purchase.customer_id,
        "store_code": store.code,
        "occurred_at": purchase.occurred_at.isoformat(),
        "total": purchase.total,
        "refunded_total": purchase.refunded_total,
        "points_earned": purchase.points_earned,
        "items": [
            {
                "sku": item.sku,
                "name": item.name,
                "category": item.category,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
            }
            for item in items
        ],
        "refunds": [
            {"external_id": r.external_id, "amount": r.amount, "points_reversed": r.points_reversed} for r in refunds
        ],
    }


def refresh_tiers(*, uow: UnitOfWork, page: int = 1000) -> int:
    """Move customers down whose last 12 months no longer earn their tier (upgrades happen at purchase).

    Every customer above the first tier is looked at, a page at a time; returns how many changed.
    Run daily by the `tiers.refresh` job.
    """
    program = get_program(uow=uow)
    base = min(program.tiers, key=lambda tier: tier.min_spend).name
    changed, after_id = 0, 0
    while True:
        query = select(Customer).where(Customer.tier != base, Customer.id > after_id).order_by(Customer.id)
        customers_page = list(uow.session.exec(query.limit(page)))
        if not customers_page:
            return changed
        for customer in customers_page:
            before = customer.tier
            if refresh_tier(uow=uow, customer=customer, program=program) != before:
                changed += 1
        after_id = customers_page[-1].id
