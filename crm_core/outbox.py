"""The outbox: every message to a customer is a row first, sent only after the commit.

Categories: `reply` (an answer to something the customer just did), `transactional` (receipts,
reminders: respect blocking only) and `marketing` (also needs consent and no opt-out).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from crm_core.models import OutboxMessage
from crm_core.uow import UnitOfWork

REPLY_TOKEN_LIFETIME = timedelta(seconds=50)  # LINE allows one minute; keep a margin for the request
MAX_MESSAGES_PER_REQUEST = 5
CATEGORIES = ("reply", "transactional", "marketing")
CLAIM = timedelta(seconds=60)


def enqueue(
    *,
    uow: UnitOfWork,
    address: str,
    messages: list[dict],
    category: str,
    customer_id: int | None = None,
    reply_token: str | None = None,
    reply_token_issued_at=None,
    dedupe_key: str | None = None,
    channel: str = "line",
    claim: bool = False,
) -> list[OutboxMessage]:
    """Queue messages (split into LINE's 5-per-request batches); a dedupe key makes it idempotent.

    `claim=True`: the caller delivers the rows itself right after the commit, so they are written
    already claimed and the scheduler's delivery job leaves them alone meanwhile.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown outbox category {category!r}")
    if dedupe_key is not None:
        existing = uow.session.exec(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(dedupe_key + "#", autoescape=True))
        ).all()
        if existing:
            return list(existing)
    rows = []
    issued = reply_token_issued_at or uow.now()
    for index in range(0, len(messages), MAX_MESSAGES_PER_REQUEST):
        batch = messages[index : index + MAX_MESSAGES_PER_REQUEST]
        first = index == 0
        row = OutboxMessage(
            customer_id=customer_id,
            channel=channel,
            address=address,
            category=category,
            messages=batch,
            reply_token=reply_token if first else None,
            reply_token_expires_at=issued + REPLY_TOKEN_LIFETIME if (first and reply_token) else None,
            retry_key=str(uuid.uuid4()),
            dedupe_key=f"{dedupe_key}#{index // MAX_MESSAGES_PER_REQUEST}" if dedupe_key else None,
            claimed_until=uow.now() + CLAIM if claim else None,
            created_at=uow.now(),
        )
        uow.session.add(row)
        rows.append(row)
    uow.session.flush()
    return rows


def due(*, uow: UnitOfWork, limit: int = 100) -> list[OutboxMessage]:
    """Pending rows that may go now, oldest first."""
    now = uow.now()
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .where((OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= now))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(uow.session.exec(query))


def claim(*, uow: UnitOfWork, message_id: int) -> bool:
    """Take the row for one delivery attempt, so two deliverers never send it both; commits at once."""
    now = uow.now()
    result = uow.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .where((OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
        .values(claimed_until=now + CLAIM)
    )
    uow.commit()
    return result.rowcount == 1


def mark_sent(*, uow: UnitOfWork, message_id: int, via: str) -> None:
    row = uow.session.get(OutboxMessage, message_id)
    row.status, row.sent_via, row.sent_at = "sent", via, uow.now()
    row.attempts += 1
    row.claimed_until = None


def mark_attempt_failed(*, uow: UnitOfWork, message_id: int, error: str, retry_in: timedelta | None) -> None:
    """Record a failed try; `retry_in=None` gives up (a request LINE will never accept)."""
    row = uow.session.get(OutboxMessage, message_id)
    row.attempts += 1
    row.claimed_until = None
    row.last_error = error[:2000]
    if retry_in is None or row.attempts >= 8:
        row.status = "failed"
    else:
        row.not_before = uow.now() + retry_in


def cancel(*, uow: UnitOfWork, message_id: int, reason: str) -> None:
    row = uow.session.get(OutboxMessage, message_id)
    row.status, row.last_error = "cancelled", reason


def recent_failures(*, uow: UnitOfWork, limit: int = 20) -> list[OutboxMessage]:
    """Messages that could not be sent, newest first (the console's system page shows their errors)."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    return list(uow.session.exec(query))
