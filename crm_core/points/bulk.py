"""Grants for imports: a batch of purchases' points in a few statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from crm_core.db import upsert_insert
from crm_core.loyalty import Program
from crm_core.models import PointAccount, PointEntry, PointLot
from crm_core.uow import UnitOfWork


@dataclass(frozen=True)  # mutation-equivalent: frozen=False, nothing assigns to a GrantSpec
class GrantSpec:
    customer_id: int
    amount: int
    idempotency_key: str
    occurred_at: datetime
    purchase_id: int | None = None
    store_id: int | None = None


def grant_many(*, uow: UnitOfWork, grants: list[GrantSpec], program: Program, zone: ZoneInfo) -> int:
    """Grants for an import batch in a few statements; keys already in the ledger are skipped.

    The balances are raised with one atomic upsert per customer, so concurrent tills stay correct.
    Returns the points granted.
    """
    grants = [g for g in grants if g.amount > 0]
    keys = [g.idempotency_key for g in grants]
    seen: set[str] = set()
    for start in range(0, len(keys), 500):  # each key asked once, at most 500 bound parameters a statement
        chunk = keys[start : start + 500]
        seen.update(uow.session.exec(select(PointEntry.idempotency_key).where(PointEntry.idempotency_key.in_(chunk))))
    fresh = [g for g in grants if g.idempotency_key not in seen]
    if not fresh:
        return 0
    now = uow.now()
    table = PointEntry.__table__
    rows = uow.session.execute(
        table.insert().returning(table.c.id, table.c.idempotency_key),  # in any order: matched to their rows by key
        [
            {
                "customer_id": g.customer_id,
                "kind": "grant",
                "amount": g.amount,
                "idempotency_key": g.idempotency_key,
                "purchase_id": g.purchase_id,
                "store_id": g.store_id,
                "occurred_at": g.occurred_at,
                "created_at": now,
            }
            for g in fresh
        ],
    ).all()
    ids = {key: entry_id for entry_id, key in rows}
    uow.session.execute(
        PointLot.__table__.insert(),
        [
            {
                "entry_id": ids[g.idempotency_key],
                "customer_id": g.customer_id,
                "amount": g.amount,
                "remaining": g.amount,
                "available_at": program.available_from(g.occurred_at),
                "expires_at": program.expiry_for(g.occurred_at, zone),
            }
            for g in fresh
        ],
    )
    totals: dict[int, int] = {}
    for g in fresh:
        totals[g.customer_id] = totals.get(g.customer_id, 0) + g.amount
    dialect = uow.session.get_bind().dialect.name
    accounts = PointAccount.__table__
    ordered = sorted(totals.items())  # one lock order for every importer: no deadlocks between batches
    for start in range(0, len(ordered), 1000):
        insert = upsert_insert(dialect, accounts).values(
            [
                {"customer_id": c, "balance": amount, "stamps": 0, "updated_at": now}
                for c, amount in ordered[start : start + 1000]
            ]
        )
        uow.session.execute(
            insert.on_conflict_do_update(
                index_elements=["customer_id"],
                set_={"balance": accounts.c.balance + insert.excluded.balance, "updated_at": now},
            )
        )
    return sum(totals.values())
