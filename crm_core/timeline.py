"""The customer timeline: what the console shows when a customer calls."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import select

from crm_core.models import ChannelIdentity, TimelineEntry
from crm_core.uow import UnitOfWork

UNSENT = "message_unsent"


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
    """Append one entry; entries are never edited (only an unsent message loses its text)."""
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


def forget_message(*, uow: UnitOfWork, identity_id: int, message_id: str, look_back: int = 1000) -> int:
    """An unsent message's entry keeps its place as a neutral "a message was unsent", without the text."""
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.identity_id == identity_id, TimelineEntry.kind == "message_in")
        .order_by(TimelineEntry.id.desc())
        .limit(look_back)
    )
    forgotten = 0
    for entry in uow.session.exec(query):
        if (entry.data or {}).get("message_id") == message_id:
            entry.kind, entry.summary = UNSENT, None
            forgotten += 1
    return forgotten


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
