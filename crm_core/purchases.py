"""Purchases: recorded once (idempotent on external_id), earning points by the shop's program.

Tiers come from the rolling 12-month spend; the tier before a purchase sets its multiplier, and the
purchase itself may move the customer up. A purchase may be paid in part with points (1 point = ¥1):
they are spent before its own points are granted, so a purchase never pays with what it earns, and by
default it earns on the yen paid (the program's `earn_on`). The earning rule is kept with the purchase.

Refunds take back `earned(total) - earned(total - refunded)` (cumulative over partial refunds) and give
back the points paid with on the refunded part, so refunding purchases in full, in any order, leaves the
balance exactly as if they had never happened.

A purchase dated before the points' validity window (its points would already have expired) is
refused: older history goes in through `kizuna import purchases`, which grants such points already
expired, so they never show in a balance.
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
from crm_core.models import Customer, Purchase, PurchaseItem, Refund, Store
from crm_core.uow import UnitOfWork

TIER_WINDOW = timedelta(days=365)
MAX_TOTAL = 100_000_000  # ¥100M: anything above is a typo
OLDEST = timedelta(days=3_650 + 731)  # longer ago than any validity the program allows


@dataclass(frozen=True)  # mutation-equivalent: frozen=False (nothing assigns to an Item)
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
    reward: stamps.StampReward | None = None
    stamps: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def points_used(self) -> int:
        return self.purchase.points_used

    def as_dict(self) -> dict:
        return {
            "id": self.purchase.id,
            "points_earned": self.points_earned,
            "points_used": self.purchase.points_used,
            "points_balance": self.points_balance,
        }


def points_paid_on(purchase: Purchase, kept: int) -> int:
    """The points paid with on `kept` yen of the purchase (the rest having been refunded)."""
    # mutation-equivalent: `else 1` (a ¥0 purchase earns nothing either way and cannot be refunded)
    return purchase.points_used * kept // purchase.total if purchase.total else 0


def points_earned_on(purchase: Purchase, kept: int) -> int:
    """The points `kept` yen of the purchase earn, by the rule the purchase was recorded with."""
    rule = purchase.earning
    if not rule:  # recorded before the rule was kept: its points in proportion
        # mutation-equivalent: `else ±1` (a ¥0 purchase cannot be refunded)
        return purchase.points_earned * kept // purchase.total if purchase.total else 0
    basis = kept - points_paid_on(purchase, kept) if rule.get("earn_on", "paid") == "paid" else kept
    if basis <= 0:  # mutation-equivalent: `< 0`, `<= -1`: a basis of 0 earns 0 below too
        return 0
    return (basis // rule["yen_per_point"]) * rule["points_per_unit"] * rule["multiplier_pct"] // 100


def check_occurred_at(*, uow: UnitOfWork, occurred_at: datetime, program: Program, zone: ZoneInfo) -> None:
    """Refuse a purchase time in the future, or so long ago that its points would already have expired."""
    now = uow.now()
    if occurred_at > now + timedelta(minutes=10):
        raise InvalidInput(N_("The purchase time is in the future."))
    if occurred_at < now - OLDEST:
        raise InvalidInput(N_("The purchase time is too long ago."))
    if program.mode == "points" and program.expiry_for(occurred_at, zone) <= now:
        raise InvalidInput(
            N_(
                "This purchase is older than its points would be valid (they expired on %(date)s); "
                "bring older history in with the purchase import."
            ),
            date=(program.expiry_for(occurred_at, zone) - timedelta(days=1)).date().isoformat(),
        )


def _int(value, what: str, *, minimum: int = 0, maximum: int = MAX_TOTAL) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise InvalidInput(N_("%(what)s must be a whole number of yen from %(min)d."), what=what, min=minimum)
    return value


def check_items(total: int, items: list[Item], discount: int) -> None:
    """Items, when given, add up to the price: the total plus the coupon discount taken off it."""
    for item in items:
        _int(item.quantity, "quantity", minimum=1, maximum=10_000)
        _int(item.unit_price, "unit_price")
        if not item.sku or not item.name:
            raise InvalidInput(N_("Every item needs a sku and a name."))
    if items and sum(item.quantity * item.unit_price for item in items) != total + discount:
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


def _existing_answer(
    uow: UnitOfWork, purchase: Purchase, customer_id: int, total: int, points_used: int
) -> PurchaseResult:
    if purchase.customer_id != customer_id or purchase.total != total or purchase.points_used != points_used:
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
    points_used: int = 0,
    discount: int = 0,
) -> PurchaseResult:
    """Record a purchase, spend the points it is paid with and grant its points in one transaction.

    The same external_id answers the same; InsufficientPoints (nothing recorded) when the customer has
    fewer usable points than `points_used`. `discount`: yen a coupon took off the price; `total` is what
    the customer pays after it (in yen and points), so points, refunds and spend all count `total`.

    Two requests racing with one external_id: the unique constraint lets one insert win; the caller
    retries the loser in a new transaction, which then finds the purchase and answers the same.
    """
    total = _int(total, "total")
    discount = _int(discount, "discount")
    items = items or []
    check_items(total, items, discount)
    if not isinstance(points_used, int) or isinstance(points_used, bool) or not 0 <= points_used <= total:
        raise InvalidInput(N_("Points used must be a whole number from 0 up to the total."))
    if external_id is not None:
        external_id = external_id.strip()
        if not external_id or len(external_id) > 100:
            raise InvalidInput(N_("external_id must be 1 to 100 characters."))
        existing = get_by_external_id(uow=uow, external_id=external_id)
        if existing is not None:
            return _existing_answer(uow, existing, customer_id, total, points_used)
    customer = check_customer(uow=uow, customer_id=customer_id)
    if uow.session.get(Store, store_id) is None:
        raise NotFound(N_("No such store."))
    now = uow.now()
    occurred_at = occurred_at or now
    program = get_program(uow=uow)
    check_occurred_at(uow=uow, occurred_at=occurred_at, program=program, zone=zone or ZoneInfo("Asia/Tokyo"))
    tier_before = customer.tier
    earns = grant_points and program.mode == "points"
    purchase = Purchase(
        external_id=external_id,
        customer_id=customer.id,
        store_id=store_id,
        total=total,
        points_used=points_used,
        discount=discount,
        earning=program.earning(program.tier_named(tier_before).multiplier_pct) if earns else None,
        staff_user_id=staff_user_id,
        source=source,
        occurred_at=occurred_at,
        created_at=now,
    )
    uow.session.add(purchase)
    uow.session.flush()  # the unique external_id decides a race here
    uow.session.add_all(PurchaseItem(purchase_id=purchase.id, **item.__dict__) for item in items)
    result = PurchaseResult(  # mutation-equivalent: points_balance ±1 (always set below)
        purchase=purchase, points_earned=0, points_balance=0, created=True, tier_before=tier_before, tier_after=""
    )
    if points_used > 0:  # before the grant: a purchase never pays with the points it earns
        points.spend(
            uow=uow,
            customer_id=customer.id,
            amount=points_used,
            idempotency_key=f"purchase-spend:{purchase.id}",
            purchase_id=purchase.id,
            store_id=store_id,
            staff_user_id=staff_user_id,
        )
    if earns:
        earned = points_earned_on(purchase, total)
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
        data={
            "purchase_id": purchase.id,
            "total": total,
            "points": result.points_earned,
            "points_used": points_used,
            "store_id": store_id,
            **({"discount": discount} if discount else {}),
        },
    )
    return result


def record_purchase_once(*, uow_factory, before_commit=None, **kwargs) -> PurchaseResult:
    """record_purchase in its own transaction, safe when the same external_id arrives many times at once.

    The losers of the unique-constraint race are retried once and then answer like the winner.
    `before_commit(uow, result)` runs inside the transaction (to queue a receipt, say).
    """
    # mutation-equivalent: the attempts (0, 2), (1, 1), (1, 3), and `and` or `== 3` below: they differ only when
    # the retry loses the race too, which cannot happen (the winner committed); it ends in an error either way
    for attempt in (1, 2):
        with uow_factory() as uow:
            try:
                result = record_purchase(uow=uow, **kwargs)
                if before_commit is not None and result.created:
                    before_commit(uow, result)
                uow.commit()
                return result
            except IntegrityError:
                # mutation-equivalent: `and`, `== 3`: as said above (the retry cannot lose the race again)
                if attempt == 2 or not kwargs.get("external_id"):
                    raise
    raise AssertionError("unreachable")


@dataclass
class RefundResult:
    refund: Refund
    points_reversed: int
    points_balance: int
    created: bool
    shortfall: int
    points_returned: int

    def as_dict(self) -> dict:
        return {
            "id": self.refund.id,
            "purchase_id": self.refund.purchase_id,
            "amount": self.refund.amount,
            "points_reversed": self.points_reversed,
            "points_returned": self.points_returned,
            "points_balance": self.points_balance,
        }


def _spend_of(uow: UnitOfWork, purchase: Purchase):
    return points.get_entry_by_key(uow=uow, idempotency_key=f"purchase-spend:{purchase.id}")


def _shortfall_of(uow: UnitOfWork, purchase: Purchase, refund: Refund) -> int:
    """The earned points `refund` could not take back (already used), as it answered when it was made.

    Worked out again from what is kept: the purchase's rule, the refunds before this one (they hold the
    purchase's row lock in turn, so ids follow the order they were made in) and the points it took back.
    """
    refunded_before = uow.session.exec(
        select(func.sum(Refund.amount)).where(Refund.purchase_id == purchase.id, Refund.id < refund.id)
    ).one()
    kept_before = purchase.total - (refunded_before or 0)
    to_reverse = points_earned_on(purchase, kept_before) - points_earned_on(purchase, kept_before - refund.amount)
    return to_reverse - refund.points_reversed


def refund_purchase(
    *, uow: UnitOfWork, purchase: Purchase, amount: int, external_id: str, occurred_at: datetime | None = None
) -> RefundResult:
    """Give back `amount` yen of a purchase, with the points of that part (idempotent on external_id).

    Takes back `earned(total - refunded before) - earned(total - refunded after)` by the purchase's own
    earning rule, so partial refunds add up exactly to a full one and never take a point more than the
    rule would have given for what remains. Gives back the points paid with on the refunded part (the
    same way, in proportion). Earned points the customer already used are not clawed below zero: the
    refund records the shortfall, and the lot owes it (see `crm_core.points.ledger`).
    """
    existing = uow.session.exec(select(Refund).where(Refund.external_id == external_id)).first()
    if existing is not None:
        if existing.purchase_id != purchase.id or existing.amount != amount:
            raise Conflict(N_("A different refund was already recorded with this external_id."))
        return RefundResult(
            refund=existing,
            points_reversed=existing.points_reversed,
            points_returned=existing.points_returned,
            points_balance=points.balance_of(uow=uow, customer_id=purchase.customer_id),
            created=False,
            shortfall=_shortfall_of(uow, purchase, existing),
        )
    amount = _int(amount, "amount", minimum=1)
    now = uow.now()
    if occurred_at is not None and not purchase.occurred_at - timedelta(minutes=10) <= occurred_at <= now + timedelta(
        minutes=10
    ):
        raise InvalidInput(N_("A refund must be dated between its purchase and now."))
    uow.session.refresh(purchase, with_for_update=True)
    existing = uow.session.exec(select(Refund).where(Refund.external_id == external_id)).first()
    if existing is not None:  # the same refund won a race while we waited for the lock
        return refund_purchase(uow=uow, purchase=purchase, amount=amount, external_id=external_id)
    if amount > purchase.total - purchase.refunded_total:
        raise InvalidInput(
            N_("At most %(left)d yen of this purchase can still be refunded."),
            left=purchase.total - purchase.refunded_total,
        )
    kept_before = purchase.total - purchase.refunded_total
    kept_after = kept_before - amount
    purchase.refunded_total += amount
    to_reverse = points_earned_on(purchase, kept_before) - points_earned_on(purchase, kept_after)
    to_return = points_paid_on(purchase, kept_before) - points_paid_on(purchase, kept_after)
    refund = Refund(
        external_id=external_id,
        purchase_id=purchase.id,
        amount=amount,
        occurred_at=occurred_at or now,
        created_at=now,
    )
    uow.session.add(refund)
    uow.session.flush()  # mutation-equivalent: the next query autoflushes, before refund.id is read for a key
    returned_points = 0
    # mutation-equivalent: `>= 0`, `> -1`: giving back 0 points returns None, so nothing is recorded
    spend_entry = _spend_of(uow, purchase) if to_return > 0 else None
    if spend_entry is not None:  # first, so points given back to this purchase's own lot are settled at once
        given = points.return_spent(
            uow=uow,
            spend_entry_id=spend_entry.id,
            amount=to_return,
            idempotency_key=f"refund-return:{refund.id}",
            store_id=purchase.store_id,
            # at most 107 characters: the API refuses an external_id over 100, the till makes short ones
            reason=f"refund {external_id}",
        )
        returned_points = given.amount if given else 0
    reversed_points = 0
    if to_reverse > 0:  # mutation-equivalent: `>= 0`, `> -1`: taking back 0 points returns None
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
    refund.points_returned = returned_points
    customer = uow.session.get(Customer, purchase.customer_id)
    refresh_tier(uow=uow, customer=customer)
    timeline.record(
        uow=uow,
        kind="refund",
        customer_id=purchase.customer_id,
        data={
            "purchase_id": purchase.id,
            "amount": amount,
            "points": reversed_points,
            "points_returned": returned_points,
        },
    )
    return RefundResult(
        refund=refund,
        points_reversed=reversed_points,
        points_returned=returned_points,
        points_balance=points.balance_of(uow=uow, customer_id=purchase.customer_id),
        created=True,
        shortfall=to_reverse - reversed_points,
    )


def recent_purchases(*, uow: UnitOfWork, customer_id: int, limit: int) -> list[tuple[Purchase, Store]]:
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
    *, uow: UnitOfWork, customer_id: int, limit: int, before_id: int | None = None, store_id: int | None = None
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
        "points_used": purchase.points_used,
        "discount": purchase.discount,  # a coupon's yen off at the till: the price was total + discount
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
            {
                "external_id": r.external_id,
                "amount": r.amount,
                "points_reversed": r.points_reversed,
                "points_returned": r.points_returned,
            }
            for r in refunds
        ],
    }


# mutation-equivalent: page 999 or 1001 (a batch size)
def refresh_tiers(*, uow: UnitOfWork, page: int = 1000) -> int:
    """Move customers down whose last 12 months no longer earn their tier (upgrades happen at purchase).

    Every customer above the first tier is looked at, a page at a time; returns how many changed.
    Run daily by the `tiers.refresh` job.
    """
    program = get_program(uow=uow)
    base = min(program.tiers, key=lambda tier: tier.min_spend).name
    changed = 0
    after_id = 0  # mutation-equivalent: -1 (ids start at 1)
    while True:
        query = select(Customer).where(Customer.tier != base, Customer.id > after_id).order_by(Customer.id)
        customers_page = list(uow.session.exec(query.limit(page)))
        if not customers_page:
            return changed
        for customer in customers_page:
            before = customer.tier
            if refresh_tier(uow=uow, customer=customer, program=program) != before:
                changed += 1
        # mutation-equivalent: `[-0]` (pages overlap: a customer looked at twice is unchanged the second time)
        after_id = customers_page[-1].id
