"""The customer timeline: what the console shows when a customer calls."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import select

from crm_core.models import ChannelIdentity, TimelineEntry
from crm_core.uow import UnitOfWork


def record(
    *,
    uow: UnitOfWork,
    kind: str,
    customer_id: int | None = None,
    identity_id: int | None = None,
    summary: str | None = None,
    data: dict | None = None,
    staff_user_id: int | None = None,
) -> TimelineEntry:
    """Append one entry; entries are never edited."""
    entry = TimelineEntry(
        kind=kind,
        customer_id=customer_id,
        identity_id=identity_id,
        summary=summary,
        data=data,
        staff_user_id=staff_user_id,
        occurred_at=uow.now(),
    )
    uow.session.add(entry)
    return entry


def list_for_customer(*, uow: UnitOfWork, customer_id: int, limit: int = 100) -> list[TimelineEntry]:
    """Newest first, including what the customer's LINE identity did before it was linked."""
    identity_ids = select(ChannelIdentity.id).where(ChannelIdentity.customer_id == customer_id)
    query = (
        select(TimelineEntry)
        .where(or_(TimelineEntry.customer_id == customer_id, TimelineEntry.identity_id.in_(identity_ids)))
        .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc())
        .limit(limit)
    )
    return list(uow.session.exec(query))
