"""Processing stored webhook events after the webhook has answered LINE.

`EventPump` drains lanes (one per LINE user) on a small thread pool; the lease in crm_core.events
keeps one user's events in order even across several web processes. `EventProcessor` runs one
event in one transaction and delivers its answer only after the commit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bot.delivery import Claimed, OutboxDelivery
from bot.handlers import HANDLERS, NEEDS_PROFILE, STANDBY_HANDLERS
from bot.handlers.context import EventContext
from bot.line_gateway import LineGateway
from bot.messages import MessageRenderer
from crm_core import channels, events, outbox
from crm_core.config import Settings
from crm_core.models import WebhookEvent
from crm_core.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


def _summary(messages: list[dict]) -> str:
    first = messages[0] if messages else {}
    return first.get("text") or first.get("altText") or f"[{first.get('type', '?')}]"


class EventProcessor:
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        renderer: MessageRenderer,
        gateway: LineGateway,
        delivery: OutboxDelivery,
        settings: Settings,
    ):
        self.uow_factory = uow_factory
        self.renderer = renderer
        self.gateway = gateway
        self.delivery = delivery
        self.settings = settings

    def process(self, event_id: int, event_type: str | None = None, lane: str | None = None) -> str:
        """Run one stored event; returns its new status (`done`, `failed`, or `skipped`)."""
        if event_type is None or lane is None:
            with self.uow_factory() as uow:
                row = uow.session.get(WebhookEvent, event_id)
                if row is None:
                    return "skipped"
                event_type, lane = row.event_type, row.lane
        profile = self.gateway.get_profile(lane) if event_type in NEEDS_PROFILE and lane.startswith("U") else None
        try:
            answers = self._run(event_id, event_type, profile)
        except Exception as error:  # recorded with the event; the next event goes on
            # the type only: an exception's text can carry what the customer wrote
            log.error("webhook event %s (%s) failed: %s", event_id, event_type, type(error).__name__)
            with self.uow_factory() as uow:
                detail = _error_summary(error)
                events.mark_failed(uow=uow, event_id=event_id, error=detail)
                uow.commit()
            return "failed"
        if answers is None:
            return "skipped"
        if answers:
            self.delivery.deliver_claimed(answers)
        return "done"

    def _run(self, event_id: int, event_type: str, profile) -> list[Claimed] | None:
        with self.uow_factory() as uow:
            row = uow.session.get(WebhookEvent, event_id)
            if row is None or row.status != "pending":
                return None
            body = row.body
            source = body.get("source") or {}
            standby = body.get("mode") == "standby"  # another tool answers: record, never answer
            handler = (STANDBY_HANDLERS if standby else HANDLERS).get(event_type)
            queued: list[Claimed] = []
            if handler is not None and source.get("type") == "user" and source.get("userId"):
                identity = channels.ensure_identity(uow=uow, address=source["userId"])
                ctx = EventContext(
                    uow=uow,
                    event=body,
                    identity=identity,
                    renderer=self.renderer,
                    gateway=self.gateway,
                    settings=self.settings,
                    profile=profile,
                )
                handler(ctx)
                if ctx.replies and not standby:
                    rows = outbox.enqueue(
                        uow=uow,
                        address=identity.address,
                        customer_id=identity.customer_id,
                        messages=ctx.replies,
                        category="reply",
                        reply_token=body.get("replyToken"),
                        reply_token_issued_at=min(_event_time(body) or uow.now(), uow.now()),
                        dedupe_key=f"event:{row.webhook_event_id}",
                        claim=True,
                    )
                    channels.record_message(
                        uow=uow, identity=identity, kind="message_out", summary=_summary(ctx.replies)
                    )
                    fresh = [r for r in rows if r.status == "pending" and r.attempts == 0 and r.claimed_until]
                    queued = [Claimed.of(r, now=uow.now()) for r in fresh]
            events.mark_done(uow=uow, event=row)
            uow.commit()
            return queued


def _error_summary(error: Exception) -> str:
    """The exception's type and where it was raised: enough to find the bug, nothing the customer wrote."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "site-packages" not in frame.filename] or frames
    where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno} in {ours[-1].name}" if ours else ""
    return f"{type(error).__name__}{where}"


def _event_time(body: dict) -> datetime | None:
    timestamp = body.get("timestamp")
    if not isinstance(timestamp, int | float):
        return None
    return datetime.fromtimestamp(timestamp / 1000, UTC)


class EventPump:
    """Runs lanes on worker threads; `wait_idle()` lets tests and shutdown wait for them."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory, processor: EventProcessor, workers: int = 4):
        self.uow_factory = uow_factory
        self.processor = processor
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._executor: ThreadPoolExecutor | None = None
        self._workers = workers
        self._busy = 0
        self._idle = threading.Condition()

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:  # created lazily: after a fork, in the process that uses it
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="kizuna-events")
        return self._executor

    def submit(self, lanes: list[str]) -> None:
        for lane in lanes:
            with self._idle:
                self._busy += 1
            self._pool().submit(self._drain_safely, lane)

    def _drain_safely(self, lane: str) -> None:
        try:
            self.drain(lane)
        except Exception:
            log.exception("event lane failed; the scheduler's sweep will pick it up")
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def drain(self, lane: str) -> int:
        """Process the lane's pending events in order; returns how many ran. Safe to call anywhere."""
        processed = 0
        while True:
            with self.uow_factory() as uow:
                if not events.acquire_lane(uow=uow, lane=lane, owner=self.owner):
                    return processed  # another worker holds it and will see our events
                batch = events.pending_in_lane(uow=uow, lane=lane)
            try:
                while batch:
                    for event_id, event_type in batch:
                        self.processor.process(event_id, event_type, lane)
                        processed += 1
                    with self.uow_factory() as uow:
                        batch = events.pending_in_lane(uow=uow, lane=lane)
            finally:
                with self.uow_factory() as uow:
                    events.release_lane(uow=uow, lane=lane, owner=self.owner)
                    # an event stored while we released would have found the lane taken: look once more
                    again = events.has_pending(uow=uow, lane=lane)
            if not again:
                return processed

    def sweep(self) -> int:
        """Drain every lane with waiting events (the `webhook.sweep` job, and start-up)."""
        with self.uow_factory() as uow:
            lanes = events.pending_lanes(uow=uow)
        return sum(self.drain(lane) for lane in lanes)

    def run_in_background(self, task) -> None:
        """Run `task` on the worker threads (delivery after a commit, a start-up sweep); errors are logged."""
        with self._idle:
            self._busy += 1

        def run():
            try:
                task()
            except Exception:
                log.exception("background task failed; the scheduler will retry what it left")
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        self._pool().submit(run)

    def sweep_in_background(self) -> None:
        """Pick up what a previous process left waiting, without delaying start-up."""
        self.run_in_background(self.sweep)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class EventWorker:
    """Processes stored events outside the web processes: wakes on PostgreSQL NOTIFY, else polls.

    Runs in the scheduler process (`kizuna scheduler`, started by `kizuna serve`), so the web
    workers only store and answer, and processing never competes with them for a request thread.
    """

    def __init__(self, *, pump: EventPump, uow_factory: UnitOfWorkFactory, database_url: str, poll: float = 1.0):
        self.pump = pump
        self.uow_factory = uow_factory
        self.database_url = database_url
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kizuna-event-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def drain_once(self) -> None:
        with self.uow_factory() as uow:
            lanes = events.pending_lanes(uow=uow)
        if lanes:
            self.pump.submit(lanes)
            self.pump.wait_idle(timeout=300)

    def _run(self) -> None:
        listener = self._listener()
        while not self._stop.is_set():
            try:
                self.drain_once()
            except Exception:
                log.exception("event worker pass failed; trying again")
            self._wait(listener)

    def _listener(self):
        if not self.database_url.startswith(("postgresql", "postgres")):
            return None
        try:
            import psycopg
            from sqlalchemy.engine import make_url

            from crm_core.db import normalize_url

            url = make_url(normalize_url(self.database_url)).set(drivername="postgresql")
            connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            connection.execute(f"LISTEN {events.NOTIFY_CHANNEL}")
            return connection
        except Exception:
            log.warning("cannot LISTEN for new events; polling every %s s", self.poll)
            return None

    def _wait(self, listener) -> None:
        if listener is None:
            self._stop.wait(self.poll)
            return
        try:
            for _ in listener.notifies(timeout=self.poll, stop_after=1):
                break
        except Exception:
            log.warning("lost the LISTEN connection; polling")
            self._stop.wait(self.poll)
