"""Reading balances: the cached balance, the ledger's own sum, what is available, pending and expiring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import select

from crm_core.models import PointAccount, PointEntry
from crm_core.points.ledger import usable_lots
from crm_core.uow import UnitOfWork


@dataclass(frozen=True)  # mutation-equivalent: frozen=False, nothing assigns to a Balance
class Balance:
    total: int  # every unexpired point, pending ones included (the cached balance)
    available: int  # usable now
    pending: int  # granted, usable from a later day
    expiring: list[tuple[datetime, int]]  # (expiry, points) soonest first, within `horizon`


def balance_of(*, uow: UnitOfWork, customer_id: int) -> int:
    account = uow.session.get(PointAccount, customer_id)
    return account.balance if account else 0


def balances_of(*, uow: UnitOfWork, customer_ids: list[int]) -> dict[int, int]:
    rows = uow.session.exec(select(PointAccount).where(PointAccount.customer_id.in_(customer_ids))).all()
    found = {row.customer_id: row.balance for row in rows}
    return {customer_id: found.get(customer_id, 0) for customer_id in customer_ids}


def ledger_balance(*, uow: UnitOfWork, customer_id: int) -> int:
    """The balance summed from the ledger itself (what the cache must always equal)."""
    total = uow.session.exec(select(func.sum(PointEntry.amount)).where(PointEntry.customer_id == customer_id)).one()
    return int(total or 0)


def details(*, uow: UnitOfWork, customer_id: int, horizon: timedelta = timedelta(days=60)) -> Balance:
    now = uow.now()
    lots = usable_lots(uow, customer_id, include_pending=True)
    available = sum(lot.remaining for lot in lots if lot.available_at <= now)
    pending = sum(lot.remaining for lot in lots if lot.available_at > now)
    expiring: dict[datetime, int] = {}
    for lot in lots:
        if lot.expires_at <= now + horizon:
            expiring[lot.expires_at] = expiring.get(lot.expires_at, 0) + lot.remaining
    return Balance(
        total=balance_of(uow=uow, customer_id=customer_id),
        available=available,
        pending=pending,
        expiring=sorted(expiring.items()),
    )


def entries_of(*, uow: UnitOfWork, customer_id: int, limit: int) -> list[PointEntry]:
    query = (
        select(PointEntry)
        .where(PointEntry.customer_id == customer_id)
        .order_by(PointEntry.occurred_at.desc(), PointEntry.id.desc())
    )
    return list(uow.session.exec(query.limit(limit)))
