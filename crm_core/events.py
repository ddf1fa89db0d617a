"""Webhook events: stored once by webhookEventId, then processed in order per LINE user (lane).

A lane is leased in the database, so any number of web processes can work on events while each
LINE user's events still run one after another, in the order LINE sent them.
"""

from __future__ import annotations

import functools
import random
import re
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, case, func, update
from sqlmodel import select

from crm_core.db import upsert_insert
from crm_core.models import EventLane, OutboxMessage, WebhookEvent
from crm_core.uow import UnitOfWork

# A worker renews its lanes' leases every few seconds while it works; a lane held by a process that
# died is free again within LEASE.
LEASE = timedelta(seconds=30)
MAX_ERROR_LENGTH = 4000
# Temporary database errors leave an event pending, tried again after a growing pause (in order: the
# lane's later events wait for it); only after GIVE_UP_AFTER of such errors does it fail for good.
RETRY_FIRST, RETRY_LONGEST = timedelta(seconds=1), timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(hours=1)


def lane_of(event: dict) -> str:
    """Events from one LINE user (or group, or room) share a lane (its first 100 characters: the column's size)."""
    source = event.get("source") or {}
    return (source.get("userId") or source.get("groupId") or source.get("roomId") or "-")[:100]


NOTIFY_CHANNEL = "kizuna_events"
_NUL = "\x00"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON can escape half an emoji; no database stores it


def storable(value):
    """The event with every text safe to store: NUL dropped (PostgreSQL refuses it), a lone surrogate as U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value.replace(_NUL, ""))
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def store_events(*, connection: Connection, events: list[dict], now: datetime) -> list[str]:
    """Store the events not seen before, in the caller's transaction; return the lanes that got new ones.

    The webhook's hot path: one statement on a plain connection (no ORM session). On PostgreSQL the
    same statement wakes the event workers (NOTIFY, delivered at commit).
    """
    rows, seen = [], set()
    for event in map(storable, events):
        event_id = event.get("webhookEventId")
        if not isinstance(event_id, str) or not event_id or event_id in seen or len(event_id) > 64:
            continue
        seen.add(event_id)  # mutation-equivalent: the insert skips a repeated id anyway; this saves a statement
        rows.append(
            {
                "webhook_event_id": event_id,
                "lane": lane_of(event),
                "event_type": str(event.get("type", "unknown"))[:40],
                "body": event,
                "redelivery": bool((event.get("deliveryContext") or {}).get("isRedelivery")),
                "status": "pending",
                "attempts": 0,
                "received_at": now,
            }
        )
    if not rows:
        return []
    statement = _store_statement(connection.dialect.name)
    lanes = []
    for row in rows:  # one event per request is the rule; a prepared statement each beats a multi-row compile
        # [0]: the lane (on PostgreSQL the row also carries pg_notify's result, see _store_statement)
        lanes.extend(stored[0] for stored in connection.execute(statement, row))
    return list(dict.fromkeys(lanes))


@functools.cache
def _store_statement(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING lane, built once so SQLAlchemy compiles it once."""
    table = WebhookEvent.__table__
    columns = ("webhook_event_id", "lane", "event_type", "body", "redelivery", "status", "attempts", "received_at")
    insert = (
        upsert_insert(dialect, table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing(index_elements=["webhook_event_id"])
        .returning(table.c.lane)
    )
    if dialect != "postgresql":
        return insert
    stored = insert.cte("stored")
    return select(stored.c.lane, func.pg_notify(NOTIFY_CHANNEL, "")).select_from(stored)


def acquire_lane(*, uow: UnitOfWork, lane: str, owner: str) -> bool:
    """Lease the lane for `owner` if nobody holds it; commits at once."""
    now = uow.now()
    dialect = uow.session.get_bind().dialect.name
    uow.session.execute(
        upsert_insert(dialect, EventLane.__table__).values(key=lane).on_conflict_do_nothing(index_elements=["key"])
    )
    result = uow.session.execute(
        update(EventLane)
        .where(EventLane.key == lane)
        .where((EventLane.leased_until.is_(None)) | (EventLane.leased_until < now))
        .values(leased_until=now + LEASE, lease_owner=owner)
    )
    uow.commit()
    return result.rowcount == 1


def renew_lanes(*, uow: UnitOfWork, lanes: list[str], owner: str) -> None:
    """Extend `owner`'s leases on `lanes` by another LEASE (the working worker's heartbeat); commits."""
    if not lanes:
        return
    uow.session.execute(
        update(EventLane)
        .where(EventLane.key.in_(lanes), EventLane.lease_owner == owner)
        .values(leased_until=uow.now() + LEASE)
    )
    uow.commit()


def release_lane(*, uow: UnitOfWork, lane: str, owner: str) -> None:
    uow.session.execute(
        update(EventLane)
        .where(EventLane.key == lane, EventLane.lease_owner == owner)
        .values(leased_until=None, lease_owner=None)
    )
    uow.commit()


def next_pending(*, uow: UnitOfWork, lane: str) -> WebhookEvent | None:
    query = (
        select(WebhookEvent)
        .where(WebhookEvent.lane == lane, WebhookEvent.status == "pending")
        .order_by(WebhookEvent.id)
        .limit(1)  # mutation-equivalent: 1 -> 2 (first() takes one)
    )
    return uow.session.exec(query).first()


# mutation-equivalent: limit 20 +-1 (a batch; the worker asks again)
def pending_in_lane(*, uow: UnitOfWork, lane: str, limit: int = 20) -> list[tuple[int, str]]:
    """The lane's next pending events (id, type), in the order they arrived; none while the first waits to retry."""
    query = (
        select(WebhookEvent.id, WebhookEvent.event_type, WebhookEvent.retry_at)
        .where(WebhookEvent.lane == lane, WebhookEvent.status == "pending")
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    now, due = uow.now(), []
    for event_id, event_type, retry_at in uow.session.exec(query):
        if retry_at is not None and retry_at > now:
            break  # nothing overtakes an event waiting to be tried again
        due.append((event_id, event_type))
    return due


def has_pending(*, uow: UnitOfWork, lane: str) -> bool:
    """Whether the lane has an event to run now (not one waiting to be tried again later)."""
    event = next_pending(uow=uow, lane=lane)
    return event is not None and (event.retry_at is None or event.retry_at <= uow.now())


# mutation-equivalent: limit 500 +-1 (a batch) and older_than -1 day (nothing is received after now)
def pending_lanes(*, uow: UnitOfWork, older_than: timedelta = timedelta(0), limit: int = 500) -> list[str]:
    """Lanes with events to run now (a crashed worker's, ones nobody picked up, retries that are due)."""
    now = uow.now()
    cutoff = now - older_than
    waiting = case((WebhookEvent.retry_at > now, 1), else_=0)  # mutation-equivalent: 1 -> 2 (only 0 matters)
    query = (
        select(WebhookEvent.lane, func.min(WebhookEvent.id))
        .where(WebhookEvent.status == "pending", WebhookEvent.received_at <= cutoff)
        .group_by(WebhookEvent.lane)
        .having(func.max(waiting) == 0)  # only a lane's first event ever waits to retry
        .order_by(func.min(WebhookEvent.id))
        .limit(limit)
    )
    return [lane for lane, _ in uow.session.exec(query)]


def oldest_pending(*, uow: UnitOfWork) -> datetime | None:
    """When the longest-waiting pending event arrived (None when nothing waits)."""
    query = select(func.min(WebhookEvent.received_at)).where(WebhookEvent.status == "pending")
    return uow.session.exec(query).one()


def mark_done(*, uow: UnitOfWork, event: WebhookEvent) -> None:
    event.status, event.processed_at = "done", uow.now()
    event.attempts += 1
    event.last_error = None
    event.retry_at = event.failing_since = None


def retry_later(*, uow: UnitOfWork, event_id: int, error: str) -> str:
    """After a temporary error: leave the event pending, due again after a growing pause; returns its status.

    It fails for good (with the reason) once such errors have gone on for GIVE_UP_AFTER.
    """
    event = uow.session.get(WebhookEvent, event_id)
    if event is None or event.status != "pending":
        return event.status if event is not None else "skipped"
    now = uow.now()
    event.attempts += 1
    event.failing_since = event.failing_since or now
    if now - event.failing_since >= GIVE_UP_AFTER:
        minutes = int((now - event.failing_since).total_seconds() // 60)
        event.status, event.processed_at, event.retry_at = "failed", now, None
        event.last_error = f"gave up after {minutes} minutes of temporary database errors; last: {error}"[
            :MAX_ERROR_LENGTH
        ]
        return "failed"
    # mutation-equivalent: 16 -> 15 or 17 (the pause reaches RETRY_LONGEST at the 7th try; 16 only bounds the power)
    pause = min(RETRY_FIRST * 2 ** min(event.attempts - 1, 16), RETRY_LONGEST)
    event.retry_at = now + pause * random.uniform(1.0, 1.25)  # noqa: S311  (jitter, not a secret)
    event.last_error = f"temporary: {error}"[:MAX_ERROR_LENGTH]
    return "pending"


def mark_failed(*, uow: UnitOfWork, event_id: int, error: str) -> None:
    """Record the failure with the event; it stays stored and can be re-run."""
    event = uow.session.get(WebhookEvent, event_id)
    event.status, event.processed_at = "failed", uow.now()
    event.attempts += 1
    event.last_error = error[:MAX_ERROR_LENGTH]


# mutation-equivalent: look_back 1000 +-1 (how far back an unsend is looked for; LINE lets a message be
# unsent for 24 hours, and nobody sends a shop 1000 messages in a day)
def forget_message(*, uow: UnitOfWork, lane: str, message_id: str, look_back: int = 1000) -> int:
    """Drop an unsent message's content from its stored event: only its id and type stay."""
    query = (
        select(WebhookEvent)
        .where(WebhookEvent.lane == lane, WebhookEvent.event_type == "message")
        .order_by(WebhookEvent.id.desc())
        .limit(look_back)
    )
    forgotten = 0
    for event in uow.session.exec(query):
        message = event.body.get("message") or {}
        if message.get("id") == message_id:
            # a new dict, so the JSON column sees the change
            event.body = {**event.body, "message": {"id": message_id, "type": message.get("type"), "unsent": True}}
            forgotten += 1
    return forgotten


def rerun(*, uow: UnitOfWork, event_id: int) -> WebhookEvent | None:
    """Put a failed event back in its lane's queue."""
    event = uow.session.get(WebhookEvent, event_id)
    if event is None or event.status != "failed":
        return None
    event.status = "pending"
    event.retry_at = event.failing_since = None
    return event


def failed_events(*, uow: UnitOfWork, limit: int = 100) -> list[WebhookEvent]:  # mutation-equivalent: 100 +-1
    query = select(WebhookEvent).where(WebhookEvent.status == "failed").order_by(WebhookEvent.id.desc())
    return list(uow.session.exec(query.limit(limit)))


def backlog(*, uow: UnitOfWork) -> dict[str, int]:
    """What waits or failed: webhook events failed, outbox messages pending and failed (the console dashboard)."""
    failed_events = uow.session.exec(
        select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status == "failed")
    ).one()
    outbox = dict(
        uow.session.exec(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.status.in_(("pending", "failed")))
            .group_by(OutboxMessage.status)
        ).all()
    )
    return {
        "events_failed": failed_events,
        "outbox_pending": outbox.get("pending", 0),
        "outbox_failed": outbox.get("failed", 0),
    }
