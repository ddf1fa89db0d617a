"""The dispatcher's side of the outbox: claims in bulk, refusals, holds, multicast batches, pacing.

`crm_core.outbox` keeps the rows and their one-at-a-time life; this module lets one dispatcher
round claim, check, hold and record hundreds of rows in a few statements, and lets every dispatcher
thread and process share LINE's rate limits through the `rate_limits` table.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, and_, case, cast, func, update
from sqlmodel import select

from crm_core import channels, outbox
from crm_core.db import chunks, upsert_insert
from crm_core.models import Booking, ChannelIdentity, Customer, OutboxBatch, OutboxBody, OutboxMessage, RateLimit
from crm_core.outbox import quota_held_until
from crm_core.uow import UnitOfWork

DISPATCH_CLAIM = timedelta(seconds=15)  # a dispatcher that dies leaves its rows to another this soon
MULTICAST_MAX = 500  # LINE: up to 500 user ids per multicast
REFUSALS = ("blocked", "opted_out", "no_consent", "no_line", "erased")

O = OutboxMessage.__table__  # noqa: E741
I = ChannelIdentity.__table__  # noqa: E741
C = Customer.__table__
B = OutboxBody.__table__
BK = Booking.__table__


@dataclass(frozen=True)
class Due:
    """What delivering one claimed outbox row needs, read as it was claimed, and who it is for.

    `messages_text` is the JSON as sent (a shared body with the row's fill put in): identical texts
    are one multicast, and are parsed once.
    `refusal` says why the row may no longer go to its customer (`refusal_of`), or is None.
    """

    id: int
    channel: str
    address: str
    customer_id: int | None
    category: str
    messages: list
    messages_text: str
    retry_key: str
    reply_token: str | None
    reply_token_expires_at: datetime | None
    sending_via: str | None
    attempts: int
    batch_id: int | None
    refusal: str | None


def claim_due(
    *, uow: UnitOfWork, limit: int, ids: list[int] | None = None, claim_for: timedelta = DISPATCH_CLAIM
) -> list[Due]:
    """Claim up to `limit` rows that may go now, oldest first, and commit; returns them, oldest first.

    `ids`: these rows only, whether or not they are due (a receipt sent right after its commit).
    Rows of a multicast batch are claimed with every other pending row of their batch, so a batch is
    always sent again whole (under its retry key) and never to a part of its recipients.
    """
    now = uow.now()
    free = (O.c.claimed_until.is_(None)) | (O.c.claimed_until < now)
    query = select(O.c.id).where(O.c.status == "pending", free)
    if ids is None:
        query = query.where((O.c.not_before.is_(None)) | (O.c.not_before <= now))
        if quota_held_until(uow=uow) is not None:
            query = query.where(O.c.reply_token_expires_at > now)
    else:
        query = query.where(O.c.id.in_(ids))
    ids = uow.session.execute(query.order_by(O.c.id).limit(limit)).scalars().all()
    if not ids:
        return []
    claimed = uow.session.execute(
        update(O)
        .where(O.c.id.in_(ids), O.c.status == "pending", free)
        .values(claimed_until=now + claim_for)
        .returning(O.c.id, O.c.batch_id)
    ).all()
    batches = {batch_id for _, batch_id in claimed if batch_id is not None}
    if batches:
        uow.session.execute(
            update(O).where(O.c.batch_id.in_(batches), O.c.status == "pending").values(claimed_until=now + claim_for)
        )
    uow.commit()
    wanted = O.c.id.in_([row_id for row_id, _ in claimed])
    if batches:
        wanted = wanted | (O.c.batch_id.in_(batches) & (O.c.status == "pending"))
    return _read_due(uow, wanted)


def _read_due(uow: UnitOfWork, wanted) -> list[Due]:
    """The claimed rows with their customer's standing, in one query (plain columns: a round reads thousands)."""
    customer_id = func.coalesce(O.c.customer_id, I.c.customer_id)
    query = (
        select(
            O.c.id,
            O.c.channel,
            O.c.address,
            O.c.customer_id,
            O.c.category,
            cast(O.c.messages, Text).label("messages_text"),
            B.c.messages.label("body"),
            O.c.fill,
            O.c.retry_key,
            O.c.reply_token,
            O.c.reply_token_expires_at,
            O.c.sending_via,
            O.c.attempts,
            O.c.batch_id,
            I.c.id.label("identity_id"),
            I.c.blocked_at,
            I.c.consented_at.label("identity_consented_at"),
            C.c.id.label("known_customer"),
            C.c.erased_at,
            C.c.marketing_opt_out,
            C.c.consented_at,
            BK.c.status.label("booking_status"),
        )
        .select_from(
            O.outerjoin(I, and_(I.c.channel == O.c.channel, I.c.address == O.c.address))
            .outerjoin(C, C.c.id == customer_id)
            .outerjoin(B, B.c.id == O.c.body_id)
            .outerjoin(BK, BK.c.id == O.c.booking_id)
        )
        .where(wanted)
        .order_by(O.c.id)
    )
    parsed: dict[str, list] = {}
    rows = []
    for row in uow.session.execute(query).all():
        text = row.messages_text if row.body is None else outbox.filled(row.body, row.fill)
        messages = parsed.get(text)
        if messages is None:
            messages = parsed[text] = json.loads(text)
        rows.append(
            Due(
                row.id,
                row.channel,
                row.address,
                row.customer_id,
                row.category,
                messages,
                text,
                row.retry_key,
                row.reply_token,
                row.reply_token_expires_at,
                row.sending_via,
                row.attempts,
                row.batch_id,
                refusal_of(row),
            )
        )
    return rows


def refusal_of(row) -> str | None:
    """Why this row may no longer go to its customer (a word for `last_error`), or None.

    A booking's reminder stops once the booking is no longer booked; every category stops at a block;
    marketing also needs a LINE identity, consent to the privacy
    notice (the customer's or the identity's) and no opt-out, and never goes to an erased customer.
    """
    on_line = row.identity_id is not None
    if row.booking_status is not None and row.booking_status != "booked":
        return "booking_cancelled"  # a reminder of a booking cancelled, moved or marked since it was decided
    if on_line and row.blocked_at is not None:
        return "blocked"
    if row.category != "marketing":
        return None
    known = row.known_customer is not None
    return channels.marketing_refusal(
        on_line=on_line,
        blocked=False,  # checked above, for every category
        erased=known and row.erased_at is not None,
        consented=(on_line and row.identity_consented_at is not None) or (known and row.consented_at is not None),
        opted_out=known and bool(row.marketing_opt_out),
    )


def load(*, uow: UnitOfWork, ids: list[int]) -> list[OutboxMessage]:
    """Rows by id, in as few queries as the database allows."""
    rows = []
    for chunk in chunks(ids):
        rows += uow.session.exec(select(OutboxMessage).where(OutboxMessage.id.in_(chunk)))
    return rows


def cancel_many(*, uow: UnitOfWork, reasons: dict[int, str]) -> None:
    """Cancel rows whose customer may no longer get them, each with its reason word in `last_error`."""
    for reason in set(reasons.values()):
        ids = [row_id for row_id, why in reasons.items() if why == reason]
        for chunk in chunks(ids):
            uow.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(chunk), OutboxMessage.status == "pending")
                .values(status="cancelled", last_error=reason, claimed_until=None, held_reason=None)
            )


def hold(*, uow: UnitOfWork, ids: list[int], reason: str, until: datetime, note: str | None = None) -> None:
    """Keep pending rows back until `until`, saying why (`quiet_hours`, `quota`); they go after it."""
    values = {"held_reason": reason, "not_before": until, "claimed_until": None}
    if note is not None:
        values["last_error"] = note[:2000]
    for chunk in chunks(ids):
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(chunk)).values(**values))


def start_attempts(*, uow: UnitOfWork, ids: list[int], via: str) -> None:
    """`start_attempt` for many rows in one statement; the caller commits before the requests leave."""
    now = uow.now()
    for chunk in chunks(ids):
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chunk))
            .values(
                attempts=OutboxMessage.attempts + 1,
                sending_via=via,
                attempted_at=now,
                first_attempted_at=func.coalesce(OutboxMessage.first_attempted_at, now),
                held_reason=None,
            )
        )


def mark_sent_many(*, uow: UnitOfWork, ids: list[int], via: str) -> None:
    now = uow.now()
    for chunk in chunks(ids):
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chunk))
            .values(status="sent", sent_via=via, sent_at=now, sending_via=None, claimed_until=None, held_reason=None)
        )


def create_batch(*, uow: UnitOfWork, ids: list[int]) -> OutboxBatch:
    """Group rows with identical messages into one multicast under a new retry key (flushes)."""
    batch = OutboxBatch(retry_key=str(uuid.uuid4()), endpoint="multicast", created_at=uow.now())
    uow.session.add(batch)
    uow.session.flush()
    for chunk in chunks(ids):
        uow.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(chunk)).values(batch_id=batch.id))
    return batch


def finish_batch(*, uow: UnitOfWork, batch_id: int, status: str) -> None:
    batch = uow.session.get(OutboxBatch, batch_id)
    batch.status = status
    if status == "sent":
        batch.sent_at = uow.now()


def get_batch(*, uow: UnitOfWork, batch_id: int) -> OutboxBatch | None:
    return uow.session.get(OutboxBatch, batch_id)


def reserve_slots(*, uow: UnitOfWork, endpoint: str, count: int, per_second: float, now: float) -> float:
    """Reserve `count` request slots on a LINE endpoint for this process; returns when the first is.

    The slots are `1 / per_second` apart from the returned moment (seconds since the epoch). Every
    dispatcher thread and process reserves from the same row, so together they stay under the limit.
    Commits.
    """
    span = count / per_second
    statement = (
        update(RateLimit)
        .where(RateLimit.endpoint == endpoint)
        .values(available_at=case((RateLimit.available_at < now, now), else_=RateLimit.available_at) + span)
        .returning(RateLimit.available_at)
    )
    ends = uow.session.execute(statement).scalar()
    if ends is None:
        insert = upsert_insert(uow.session.get_bind().dialect.name, RateLimit.__table__)
        uow.session.execute(insert.values(endpoint=endpoint, available_at=0.0).on_conflict_do_nothing())
        ends = uow.session.execute(statement).scalar()
    uow.commit()
    return ends - span


def waiting(*, uow: UnitOfWork) -> int:
    """Pending rows that will go without anyone's action (not held for quiet hours or LINE's quota)."""
    return uow.session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.held_reason.is_(None))
    ).one()


def push_back(*, uow: UnitOfWork, endpoint: str, until: float) -> None:
    """LINE said slow down: no dispatcher reserves a slot on `endpoint` before `until`. Commits."""
    statement = update(RateLimit).where(RateLimit.endpoint == endpoint, RateLimit.available_at < until)
    uow.session.execute(statement.values(available_at=until))
    uow.commit()
