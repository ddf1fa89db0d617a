"""The dispatcher's side of the outbox: claims in bulk, refusals, holds, multicast batches, pacing.

`crm_core.outbox` keeps the rows and their one-at-a-time life; this module lets one dispatcher
round claim, check, hold and record hundreds of rows in a few statements, and lets every dispatcher
thread and process share LINE's rate limits through the `rate_limits` table.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, func, update
from sqlmodel import select

from crm_core import channels
from crm_core.db import chunks, upsert_insert
from crm_core.models import OutboxBatch, OutboxMessage, RateLimit
from crm_core.outbox import quota_held_until
from crm_core.uow import UnitOfWork

DISPATCH_CLAIM = timedelta(seconds=15)  # a dispatcher that dies leaves its rows to another this soon
MULTICAST_MAX = 500  # LINE: up to 500 user ids per multicast
REFUSALS = ("blocked", "opted_out", "no_consent", "no_line", "erased")


def claim_due(
    *, uow: UnitOfWork, limit: int, ids: list[int] | None = None, claim_for: timedelta = DISPATCH_CLAIM
) -> list[OutboxMessage]:
    """Claim up to `limit` rows that may go now, oldest first, and commit; returns the claimed rows.

    `ids`: these rows only, whether or not they are due (a receipt sent right after its commit).
    Rows of a multicast batch are claimed with every other pending row of their batch, so a batch is
    always sent again whole (under its retry key) and never to a part of its recipients.
    """
    now = uow.now()
    free = (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now)
    query = select(OutboxMessage.id).where(OutboxMessage.status == "pending", free)
    if ids is None:
        query = query.where((OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= now))
        if quota_held_until(uow=uow) is not None:
            query = query.where(OutboxMessage.reply_token_expires_at > now)
    else:
        query = query.where(OutboxMessage.id.in_(ids))
    ids = list(uow.session.exec(query.order_by(OutboxMessage.id).limit(limit)))
    if not ids:
        return []
    claimed = list(
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending", free)
            .values(claimed_until=now + claim_for)
            .returning(OutboxMessage.id, OutboxMessage.batch_id)
        )
    )
    batches = {batch_id for _, batch_id in claimed if batch_id is not None}
    if batches:
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.batch_id.in_(batches), OutboxMessage.status == "pending")
            .values(claimed_until=now + claim_for)
        )
    uow.commit()
    # plain rows, not ORM objects: a round reads thousands, and only reads them
    columns = select(*OutboxMessage.__table__.c)
    query = columns.where(OutboxMessage.id.in_([row_id for row_id, _ in claimed]))
    if batches:
        query = columns.where(
            OutboxMessage.id.in_([row_id for row_id, _ in claimed])
            | (OutboxMessage.batch_id.in_(batches) & (OutboxMessage.status == "pending"))
        )
    return list(uow.session.execute(query.order_by(OutboxMessage.id)))


def refusal(row: OutboxMessage, identity, customer) -> str | None:
    """Why this row may no longer go to its customer (a word for `last_error`), or None.

    Every category stops at a block; marketing also needs a LINE identity, consent to the privacy
    notice (the customer's or the identity's) and no opt-out, and never goes to an erased customer.
    """
    if identity is not None and identity.blocked_at is not None:
        return "blocked"
    if row.category != "marketing":
        return None
    return channels.marketing_refusal(
        on_line=identity is not None,
        blocked=False,  # checked above, for every category
        erased=customer is not None and customer.erased_at is not None,
        consented=(identity is not None and identity.consented_at is not None)
        or (customer is not None and customer.consented_at is not None),
        opted_out=customer is not None and customer.marketing_opt_out,
    )


def recipients_of(*, uow: UnitOfWork, rows: list[OutboxMessage]) -> dict[int, tuple]:
    """row id -> (identity, customer) for `rows` (the columns `refusal` reads), in few queries."""
    from crm_core.models import ChannelIdentity, Customer

    identities = {}
    who = select(
        ChannelIdentity.channel,
        ChannelIdentity.address,
        ChannelIdentity.customer_id,
        ChannelIdentity.blocked_at,
        ChannelIdentity.consented_at,
    )
    for chunk in chunks(sorted({row.address for row in rows})):
        for identity in uow.session.execute(who.where(ChannelIdentity.address.in_(chunk))):
            identities[(identity.channel, identity.address)] = identity
    customer_ids = set()
    for row in rows:
        identity = identities.get((row.channel, row.address))
        customer_id = row.customer_id or (identity.customer_id if identity is not None else None)
        if customer_id is not None:
            customer_ids.add(customer_id)
    customers = {}
    columns = select(Customer.id, Customer.erased_at, Customer.marketing_opt_out, Customer.consented_at)
    for chunk in chunks(sorted(customer_ids)):
        for customer in uow.session.execute(columns.where(Customer.id.in_(chunk))):
            customers[customer.id] = customer
    result = {}
    for row in rows:
        identity = identities.get((row.channel, row.address))
        customer_id = row.customer_id or (identity.customer_id if identity is not None else None)
        result[row.id] = (identity, customers.get(customer_id))
    return result


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
