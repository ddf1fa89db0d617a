"""The outbox: every message to a customer is a row first, sent only after the commit.

Categories: `reply` (an answer to something the customer just did), `transactional` (receipts,
reminders: respect blocking only) and `marketing` (also needs consent and no opt-out).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import select

from crm_core.errors import N_, NotFound
from crm_core.models import OutboxBody, OutboxMessage
from crm_core.uow import UnitOfWork

REPLY_TOKEN_LIFETIME = timedelta(seconds=50)  # LINE allows one minute; keep a margin for the request
MAX_MESSAGES_PER_REQUEST = 5
CATEGORIES = ("reply", "transactional", "marketing")
CLAIM = timedelta(seconds=60)
RETRY_WINDOW = timedelta(hours=24)  # LINE remembers a push's X-Line-Retry-Key for 24 hours
QUOTA_SPENT = "monthly-limit: "  # last_error prefix of the push that found LINE's monthly quota spent
LINE_TIME = ZoneInfo("Asia/Tokyo")  # LINE counts the monthly quota by the month in Japan
# in a shared body (outbox_bodies), where each row's fill goes: inside a JSON string, so the fill is JSON-escaped
FILL = "@@kizuna-fill@@"


def escaped(text: str) -> str:
    """`text` as it stands inside a JSON string (a fill)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def filled(body: str, fill: str | None) -> str:
    """A shared body's JSON text with a row's fill in place of its mark."""
    return body.replace(FILL, fill or "")


def contents(*, uow: UnitOfWork, rows: list[OutboxMessage]) -> dict[int, list[dict]]:
    """Row id -> the LINE messages it sends (its own, or its shared body with its fill)."""
    ids = {row.body_id for row in rows if row.body_id is not None}
    bodies = dict(uow.session.execute(select(OutboxBody.id, OutboxBody.messages).where(OutboxBody.id.in_(ids))).all())
    return {
        row.id: json.loads(filled(bodies[row.body_id], row.fill)) if row.body_id is not None else row.messages
        for row in rows
    }


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


def due(*, uow: UnitOfWork, limit: int = 100) -> list[OutboxMessage]:  # mutation-equivalent: 100 +-1 (a batch)
    """Pending rows that may go now, oldest first; while LINE's monthly quota is spent, replies only."""
    now = uow.now()
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .where((OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= now))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if quota_held_until(uow=uow) is not None:
        query = query.where(OutboxMessage.reply_token_expires_at > now)
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


def start_attempt(*, uow: UnitOfWork, message_id: int, via: str) -> None:
    """Record a try by `via` (reply or push) before its request leaves; the caller commits first.

    Should the process die before LINE's answer is recorded, the row says a try was under way.
    """
    row = uow.session.get(OutboxMessage, message_id)
    now = uow.now()
    row.attempts += 1
    row.sending_via, row.attempted_at = via, now
    row.first_attempted_at = row.first_attempted_at or now


def mark_sent(*, uow: UnitOfWork, message_id: int, via: str, note: str | None = None) -> None:
    """LINE took it (`note`: why we believe so without LINE's word, e.g. a reply whose answer was lost)."""
    row = uow.session.get(OutboxMessage, message_id)
    row.status, row.sent_via, row.sent_at = "sent", via, uow.now()
    row.sending_via = row.claimed_until = row.held_reason = None
    if note is not None:
        row.last_error = note


def mark_attempt_failed(
    *, uow: UnitOfWork, message_id: int, error: str, retry_in: timedelta | None, unsure: bool = False
) -> None:
    """Record a failed try; `retry_in=None` gives up (a request LINE will never accept).

    A try is retried until 24 hours after the first one (LINE keeps a retry key that long), then the
    row fails with the reason. `unsure`: no answer came back, LINE may have taken it (kept in
    `sending_via`, so the next try knows).
    """
    row = uow.session.get(OutboxMessage, message_id)
    now = uow.now()
    row.claimed_until = None
    row.last_error = error[:2000]
    if not unsure:
        row.sending_via = None
    if retry_in is None:
        row.status = "failed"
    elif now + retry_in - (row.first_attempted_at or now) > RETRY_WINDOW:
        row.status = "failed"
        # mutation-equivalent: 3600 -> 3599 or 3601 (still "24 hours" once rounded)
        row.last_error = f"gave up after {RETRY_WINDOW.total_seconds() / 3600:.0f} hours: {error}"[:2000]
    else:
        row.not_before = now + retry_in


def hold_for_quota(*, uow: UnitOfWork, message_id: int, error: str) -> datetime:
    """LINE's monthly message quota is spent: hold this push (and every push behind it) until next month."""
    row = uow.session.get(OutboxMessage, message_id)
    local = uow.now().astimezone(LINE_TIME)
    # mutation-equivalent: days=4 -> 5 (the 28th plus 4 or 5 days is in the next month, whatever the month)
    next_month = (local.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    row.claimed_until = row.sending_via = None
    row.last_error = (QUOTA_SPENT + error)[:2000]
    row.not_before, row.held_reason = next_month, "quota"
    return next_month


def quota_held_until(*, uow: UnitOfWork) -> datetime | None:
    """When pushes may go again, while LINE's monthly quota is spent; None when they may go now."""
    until = uow.session.exec(
        select(func.max(OutboxMessage.not_before))
        .where(OutboxMessage.status == "pending")
        .where(OutboxMessage.last_error.startswith(QUOTA_SPENT))
    ).one()
    return until if until is not None and until > uow.now() else None


def requeue(*, uow: UnitOfWork, message_id: int | None = None) -> int:
    """Send failed messages again (one, or all of them and what waits for LINE's quota); returns how many.

    A message keeps its retry key, so LINE answers 409 (and the customer sees nothing twice) when a
    push had in fact arrived within the last 24 hours.
    """
    query = select(OutboxMessage).where(OutboxMessage.status == "failed")
    if message_id is not None:
        query = query.where(OutboxMessage.id == message_id)
    rows = list(uow.session.exec(query))
    if message_id is not None and not rows:
        raise NotFound(N_("No message %(id)s that could not be sent."), id=message_id)
    if message_id is None:
        rows += list(
            uow.session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending")
                .where(OutboxMessage.last_error.startswith(QUOTA_SPENT) | (OutboxMessage.held_reason == "quota"))
            )
        )
    for row in rows:
        row.status = "pending"
        row.not_before = row.claimed_until = row.first_attempted_at = row.sending_via = None
        row.last_error = row.held_reason = None
    uow.session.flush()  # mutation-equivalent: every caller commits next, which flushes
    return len(rows)


def cancel(*, uow: UnitOfWork, message_id: int, reason: str) -> None:
    row = uow.session.get(OutboxMessage, message_id)
    row.status, row.last_error = "cancelled", reason


def recent_failures(*, uow: UnitOfWork, limit: int = 20) -> list[OutboxMessage]:  # mutation-equivalent: 20 +-1
    """Messages that could not be sent, newest first (the console's system page shows their errors)."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    return list(uow.session.exec(query))
