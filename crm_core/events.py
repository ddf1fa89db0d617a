"""Webhook events: stored once by webhookEventId, then processed in order per LINE user (lane).

A lane is leased in the database, so any number of web processes can work on events while each
LINE user's events still run one after another, in the order LINE sent them.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, update
from sqlmodel import select

from crm_core.db import upsert_insert
from crm_core.models import EventLane, OutboxMessage, WebhookEvent
from crm_core.uow import UnitOfWork

LEASE = timedelta(minutes=10)  # far longer than a batch; only a crashed worker lets one run out
MAX_ERROR_LENGTH = 4000


def lane_of(event: dict) -> str:
    """Events from one LINE user (or group, or room) share a lane."""
    source = event.get("source") or {}
    return source.get("userId") or source.get("groupId") or source.get("roomId") or "-"


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
        seen.add(event_id)
        rows.append(
            {
                "webhook_event_id": event_id,
                "lane": lane_of(event)[:100],
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
        .limit(1)
    )
    return uow.session.exec(query).first()


def pending_in_lane(*, uow: UnitOfWork, lane: str, limit: int = 20) -> list[tuple[int, str]]:
    """The lane's next pending events (id, type), in the order they arrived."""
    query = (
        select(WebhookEvent.id, WebhookEvent.event_type)
        .where(WebhookEvent.lane == lane, WebhookEvent.status == "pending")
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    return [(event_id, event_type) for event_id, event_type in uow.session.exec(query)]


def has_pending(*, uow: UnitOfWork, lane: str) -> bool:
    return next_pending(uow=uow, lane=lane) is not None


def pending_lanes(*, uow: UnitOfWork, older_than: timedelta = timedelta(0), limit: int = 500) -> list[str]:
    """Lanes with events still waiting (a crashed worker's, or ones nobody picked up)."""
    cutoff = uow.now() - older_than
    query = (
        select(WebhookEvent.lane, func.min(WebhookEvent.id))
        .where(WebhookEvent.status == "pending", WebhookEvent.received_at <= cutoff)
        .group_by(WebhookEvent.lane)
        .order_by(func.min(WebhookEvent.id))
        .limit(limit)
    )
    return [lane for lane, _ in uow.session.exec(query)]


def mark_done(*, uow: UnitOfWork, event: WebhookEvent) -> None:
    event.status, event.processed_at = "done", uow.now()
    event.attempts += 1
    event.last_error = None


def mark_failed(*, uow: UnitOfWork, event_id: int, error: str) -> None:
    """Record the failure with the event; it stays stored and can be re-run."""
    event = uow.session.get(WebhookEvent, event_id)
    event.status, event.processed_at = "failed", uow.now()
    event.attempts += 1
    event.last_error = error[:MAX_ERROR_LENGTH]


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
    return event


def failed_events(*, uow: UnitOfWork, limit: int = 100) -> list[WebhookEvent]:
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
