"""Handing coupons to customers: issue (the API, flows), claim (LINE), exchange for points, lottery.

Every way goes through `_issue_locked`, inside a savepoint:

1. `UPDATE coupons SET issued = issued + 1 WHERE id = :id AND (stock IS NULL OR issued < stock)`:
   no row means sold out; the row stays locked until the transaction ends, so every issue of one
   coupon runs one after another (on SQLite the write lock does the same), and the CHECK
   `issued <= stock` backs it up whatever the code above does.
2. Under that lock, the customer's next sequence number for this coupon (`seq`) is read: past the
   per-customer limit means limit reached. (coupon, customer, seq) is unique, so even a reader that
   saw an old state cannot add a coupon twice.
3. The customer coupon is inserted with its idempotency key (unique): the same key again, even at
   the same moment, gives the first coupon back.

A refusal rolls back to the savepoint, so nothing of it stays in the caller's transaction.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import points, timeline
from crm_core.coupons.benefits import expires_at
from crm_core.coupons.codes import MAX_CODE, new_code, normalize_code
from crm_core.coupons.definitions import CLAIM, LOTTERY, POINTS, check_coupon
from crm_core.customers import check_customer
from crm_core.errors import (
    N_,
    Conflict,
    CouponExpired,
    CouponRefused,
    CouponUnavailable,
    LimitReached,
    NotObtainableThisWay,
    SoldOut,
)
from crm_core.models import Coupon, CouponDraw, CustomerCoupon
from crm_core.uow import UnitOfWork

TOKYO = ZoneInfo("Asia/Tokyo")
ATTEMPTS = 3


@dataclass(frozen=True)
class Issued:
    coupon: CustomerCoupon
    created: bool  # False: the idempotency key had already issued it


@dataclass(frozen=True)
class Draw:
    won: bool
    coupon: CustomerCoupon | None  # the coupon won
    created: bool  # False: the idempotency key had already drawn


def get_by_code(*, uow: UnitOfWork, code: str) -> CustomerCoupon | None:
    code = normalize_code(code)
    if not code or len(code) > MAX_CODE:
        return None
    return uow.session.exec(select(CustomerCoupon).where(CustomerCoupon.code == code)).first()


def get_by_key(*, uow: UnitOfWork, idempotency_key: str) -> CustomerCoupon | None:
    query = select(CustomerCoupon).where(CustomerCoupon.idempotency_key == idempotency_key)
    return uow.session.exec(query.execution_options(populate_existing=True)).first()


def _same(found: CustomerCoupon, coupon_id: int, customer_id: int) -> CustomerCoupon:
    if (found.coupon_id, found.customer_id) != (coupon_id, customer_id):
        raise Conflict(N_("A different coupon was already issued with this idempotency key."))
    return found


def _count(uow: UnitOfWork, table, coupon_id: int, customer_id: int) -> int:
    query = select(func.coalesce(func.max(table.seq), 0)).where(
        table.coupon_id == coupon_id, table.customer_id == customer_id
    )
    return uow.session.exec(query).one()


def _check_open(uow: UnitOfWork, coupon: Coupon, zone: ZoneInfo) -> None:
    """Refuse a coupon that is switched off or whose last day has passed."""
    if not coupon.active:
        raise CouponUnavailable()
    now = uow.now()
    if expires_at(issued_at=now, zone=zone, valid_days=coupon.valid_days, valid_until=coupon.valid_until) <= now:
        raise CouponExpired()


def _take_stock(uow: UnitOfWork, coupon_id: int) -> bool:
    """Count one more coupon issued unless the stock is gone (the row stays locked until the transaction ends)."""
    result = uow.session.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, or_(Coupon.stock.is_(None), Coupon.issued < Coupon.stock))
        .values(issued=Coupon.issued + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _issue_locked(
    uow: UnitOfWork,
    coupon: Coupon,
    customer_id: int,
    key: str,
    obtained_by: str,
    zone: ZoneInfo,
    point_entry_id: int | None = None,
) -> CustomerCoupon:
    """Steps 1 to 3 of the module's docstring; the caller holds a savepoint."""
    if not _take_stock(uow, coupon.id):
        raise SoldOut()
    seq = _count(uow, CustomerCoupon, coupon.id, customer_id) + 1
    if coupon.per_customer_limit is not None and seq > coupon.per_customer_limit:
        raise LimitReached()
    now = uow.now()
    held = CustomerCoupon(
        code=new_code(prefix=coupon.code_prefix, alphabet=coupon.code_alphabet, length=coupon.code_length),
        coupon_id=coupon.id,
        customer_id=customer_id,
        seq=seq,
        obtained_by=obtained_by,
        idempotency_key=key,
        issued_at=now,
        expires_at=expires_at(issued_at=now, zone=zone, valid_days=coupon.valid_days, valid_until=coupon.valid_until),
        point_entry_id=point_entry_id,
    )
    uow.session.add(held)
    uow.session.flush()
    timeline.record(
        uow=uow,
        kind="coupon_issued",
        customer_id=customer_id,
        data={"coupon_id": coupon.id, "customer_coupon_id": held.id, "title": coupon.title, "by": obtained_by},
    )
    return held


def issue_coupon(
    *,
    uow: UnitOfWork,
    coupon_id: int,
    customer_id: int,
    idempotency_key: str | None = None,
    obtained_by: str = "api",
    zone: ZoneInfo = TOKYO,
    obtain: tuple[str, ...] | None = None,
    point_entry_id: int | None = None,
) -> Issued:
    """Give the customer one of this coupon; the same idempotency key again gives the same coupon back.

    SoldOut, LimitReached, CouponUnavailable (switched off), CouponExpired (its last day passed);
    NotObtainableThisWay when `obtain` is given and the coupon is obtained otherwise.
    """
    key = idempotency_key or f"{obtained_by}:{uuid.uuid4()}"
    for attempt in range(ATTEMPTS):
        found = get_by_key(uow=uow, idempotency_key=key)
        if found is not None:
            return Issued(_same(found, coupon_id, customer_id), created=False)
        coupon = check_coupon(uow=uow, coupon_id=coupon_id)
        check_customer(uow=uow, customer_id=customer_id)
        if obtain is not None and coupon.obtain not in obtain:
            raise NotObtainableThisWay()
        _check_open(uow, coupon, zone)
        limit = coupon.per_customer_limit
        try:
            if limit is not None and _count(uow, CustomerCoupon, coupon_id, customer_id) >= limit:
                raise LimitReached()  # without waiting for the lock: it can only have grown since
            with uow.session.begin_nested():
                held = _issue_locked(uow, coupon, customer_id, key, obtained_by, zone, point_entry_id)
            return Issued(held, created=True)
        except (CouponRefused, IntegrityError) as refused:
            # a request with the same key that committed meanwhile (while this one counted, or waited
            # for the lock) wins: its coupon is this request's answer, not a refusal
            found = get_by_key(uow=uow, idempotency_key=key)
            if found is not None:
                return Issued(_same(found, coupon_id, customer_id), created=False)
            if isinstance(refused, CouponRefused) or attempt == ATTEMPTS - 1:
                raise
            # an IntegrityError without a winner: an unlikely collision of random codes; draw again
    raise AssertionError("unreachable")


def claim_coupon(
    *, uow: UnitOfWork, coupon_id: int, customer_id: int, idempotency_key: str | None = None, zone: ZoneInfo = TOKYO
) -> Issued:
    """The customer takes a coupon offered for the taking (in LINE)."""
    return issue_coupon(
        uow=uow,
        coupon_id=coupon_id,
        customer_id=customer_id,
        idempotency_key=idempotency_key,
        obtained_by="claim",
        zone=zone,
        obtain=(CLAIM,),
    )


def exchange_points(
    *, uow: UnitOfWork, coupon_id: int, customer_id: int, idempotency_key: str, zone: ZoneInfo = TOKYO
) -> Issued:
    """Spend the coupon's price in points and issue it, in one transaction: both happen or neither.

    InsufficientPoints (nothing spent) when the customer has fewer usable points; the same key
    again gives the same coupon back and spends nothing more.
    """
    found = get_by_key(uow=uow, idempotency_key=idempotency_key)
    if found is not None:
        return Issued(_same(found, coupon_id, customer_id), created=False)
    coupon = check_coupon(uow=uow, coupon_id=coupon_id)
    if coupon.obtain != POINTS:
        raise NotObtainableThisWay()
    check_customer(uow=uow, customer_id=customer_id)
    _check_open(uow, coupon, zone)
    try:
        with uow.session.begin_nested():
            entry = points.spend(
                uow=uow,
                customer_id=customer_id,
                amount=coupon.points_cost,
                idempotency_key=f"coupon-exchange:{idempotency_key}",
                reason=f"coupon {coupon.id}: {coupon.title}"[:500],
            )
            issued = issue_coupon(
                uow=uow,
                coupon_id=coupon_id,
                customer_id=customer_id,
                idempotency_key=idempotency_key,
                obtained_by="points",
                zone=zone,
                point_entry_id=entry.id,
            )
            if not issued.created:  # another exchange with this key won while this one waited for the points
                raise _AlreadyExchanged(issued)
    except _AlreadyExchanged as done:
        return done.issued
    return issued


class _AlreadyExchanged(Exception):
    def __init__(self, issued: Issued):
        self.issued = issued


def draw_lottery(
    *,
    uow: UnitOfWork,
    coupon_id: int,
    customer_id: int,
    idempotency_key: str,
    rng: random.Random | None = None,
    zone: ZoneInfo = TOKYO,
) -> Draw:
    """Draw once: won with the coupon's probability (in basis points), and then issued the coupon.

    Each draw is recorded; a customer draws at most `per_customer_limit` times. Never more winners
    than the stock: a win when the stock just ran out is SoldOut, and no draw is recorded. `rng`:
    the random source (tests pass a seeded one).
    """
    rng = rng or secrets.SystemRandom()
    found = _draw_by_key(uow, idempotency_key)
    if found is not None:
        return found
    coupon = check_coupon(uow=uow, coupon_id=coupon_id)
    if coupon.obtain != LOTTERY:
        raise NotObtainableThisWay()
    check_customer(uow=uow, customer_id=customer_id)
    _check_open(uow, coupon, zone)
    limit = coupon.per_customer_limit
    if limit is not None and _count(uow, CouponDraw, coupon_id, customer_id) >= limit:
        raise LimitReached()
    if coupon.stock is not None and coupon.issued >= coupon.stock:
        raise SoldOut()
    won = rng.randrange(10_000) < (coupon.win_basis_points or 0)
    try:
        with uow.session.begin_nested():
            check_coupon(uow=uow, coupon_id=coupon_id, lock=True)  # every draw of this coupon in turn
            seq = _count(uow, CouponDraw, coupon_id, customer_id) + 1
            if limit is not None and seq > limit:
                raise LimitReached()
            held = None
            if won:
                held = _issue_locked(uow, coupon, customer_id, f"lottery:{idempotency_key}", LOTTERY, zone)
            uow.session.add(
                CouponDraw(
                    coupon_id=coupon_id,
                    customer_id=customer_id,
                    seq=seq,
                    won=won,
                    customer_coupon_id=held.id if held else None,
                    idempotency_key=idempotency_key,
                    drawn_at=uow.now(),
                )
            )
            uow.session.flush()
    except (CouponRefused, IntegrityError):
        found = _draw_by_key(uow, idempotency_key)
        if found is not None:
            return found
        raise
    return Draw(won=won, coupon=held, created=True)


def _draw_by_key(uow: UnitOfWork, idempotency_key: str) -> Draw | None:
    draw = uow.session.exec(select(CouponDraw).where(CouponDraw.idempotency_key == idempotency_key)).first()
    if draw is None:
        return None
    held = uow.session.get(CustomerCoupon, draw.customer_coupon_id) if draw.customer_coupon_id else None
    return Draw(won=draw.won, coupon=held, created=False)
