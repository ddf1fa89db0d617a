"""Processing stored webhook events after the webhook has answered LINE.

`EventPump` drains lanes (one per LINE user) on a small thread pool; the lease in crm_core.events
keeps one user's events in order even across several web processes. `EventProcessor` runs one
event in one transaction and delivers its answer only after the commit.

A temporary database error (connection lost, serialization failure, deadlock, "database is locked")
leaves the event pending, tried again after a pause, with the lane's later events waiting behind it;
only any other exception (a bug) fails it. Leases are short and renewed while a worker works, so a
lane held by a process that died is free again within `events.LEASE`; a stopping pump finishes the
event in hand and releases its lanes.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import traceback
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
from crm_core.db import DatabaseOutage, is_transient
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
        self.services = None  # set by build_services once the composition root exists
        self.outage = DatabaseOutage(log)  # one per process: the pump and the event worker report to it too

    def process(self, event_id: int, event_type: str | None = None, lane: str | None = None) -> str:
        """Run one stored event; returns its new status (`done`, `failed`, `skipped`, or `pending` to retry).

        `event_type` and `lane` come together (the pump has both from its query), or neither: read here."""
        if lane is None:
            with self.uow_factory() as uow:
                row = uow.session.get(WebhookEvent, event_id)
                if row is None:
                    return "skipped"
                event_type, lane = row.event_type, row.lane
        profile = self.gateway.get_profile(lane) if event_type in NEEDS_PROFILE and lane.startswith("U") else None
        try:
            answers = self._run(event_id, event_type, profile)
        except Exception as error:
            if is_transient(error):
                return self._retry_later(event_id, event_type, error)
            # a bug: recorded with the event; the next event goes on
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
            try:
                self.delivery.deliver_claimed(answers)
            except Exception as error:
                if not is_transient(error):
                    raise
                self.outage.failed(error)  # the answers stay in the outbox, sent by `outbox.deliver`
        return "done"

    def _retry_later(self, event_id: int, event_type: str, error: Exception) -> str:
        """Leave the event pending for another try (or fail it after too long); raises while the database is away."""
        if not self.outage.ongoing:  # during an outage its one line says it all
            log.warning(
                "webhook event %s (%s): temporary database error (%s); trying it again shortly",
                event_id,
                event_type,
                type(getattr(error, "orig", None) or error).__name__,
            )
        with self.uow_factory() as uow:
            status = events.retry_later(uow=uow, event_id=event_id, error=_error_summary(error))
            uow.commit()
        if status == "failed":
            log.error("webhook event %s (%s) failed: temporary database errors went on too long", event_id, event_type)
        return status

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
                    services=self.services,
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
                    # mutation-equivalent: the first `and` -> `or` (enqueue gives back older rows only for a dedupe key
                    # already used, and this event's replies commit together with it done: they are always fresh)
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

    def __init__(self, *, uow_factory: UnitOfWorkFactory, processor: EventProcessor, workers: int):
        self.uow_factory = uow_factory
        self.processor = processor
        self.outage = processor.outage
        # mutation-equivalent: 3 or 5 bytes (with the host and pid, any length keeps owners apart)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # mutation-equivalent: / 2 or / 4 (renewed at least twice within each lease either way)
        self.renew_every = events.LEASE.total_seconds() / 3  # how often the leases of lanes in hand are renewed
        self._executor: ThreadPoolExecutor | None = None
        self._workers = workers
        self._busy = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._held: dict[str, int] = {}  # lanes in hand (a lane may be drained by two threads of ours at once)
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None

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
        except Exception as error:
            if is_transient(error):
                self.outage.failed(error)  # one line per outage; the lane is tried again when it answers
            else:
                # mutation-equivalent: removing the log call (a log line; the sweep picks the lane up)
                log.exception("event lane failed; the scheduler's sweep will pick it up")
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def drain(self, lane: str) -> int:
        """Process the lane's pending events in order; returns how many ran. Safe to call anywhere.

        Stops early, releasing the lane, when the first event waits to be retried or the pump is stopping.
        """
        processed = 0
        while not self._stopping.is_set():
            with self.uow_factory() as uow:
                if not events.acquire_lane(uow=uow, lane=lane, owner=self.owner):
                    return processed  # another worker holds it and will see our events
            self._hold(lane)
            try:
                with self.uow_factory() as uow:
                    batch = events.pending_in_lane(uow=uow, lane=lane)
                while batch:
                    for event_id, event_type in batch:
                        if self._stopping.is_set():
                            return processed  # the event in hand is finished; the rest waits for the next worker
                        if self.processor.process(event_id, event_type, lane) == "pending":
                            return processed  # it waits to be tried again, and nothing overtakes it
                        processed += 1
                    with self.uow_factory() as uow:
                        batch = events.pending_in_lane(uow=uow, lane=lane)
            finally:
                self._let_go(lane)
                with self.uow_factory() as uow:
                    events.release_lane(uow=uow, lane=lane, owner=self.owner)
                    # an event stored while we released would have found the lane taken: look once more
                    again = events.has_pending(uow=uow, lane=lane)
            if not again:
                return processed
        return processed

    def _hold(self, lane: str) -> None:
        with self._held_lock:
            self._held[lane] = self._held.get(lane, 0) + 1
            if self._renewer is None:
                # mutation-equivalent: daemon=False (every process that drains calls shutdown(), which ends it)
                self._renewer = threading.Thread(target=self._renew, name="kizuna-event-leases", daemon=True)
                self._renewer.start()

    def _let_go(self, lane: str) -> None:
        with self._held_lock:
            self._held[lane] -= 1
            if not self._held[lane]:
                del self._held[lane]

    def _renew(self) -> None:
        """Keep the leases of the lanes in hand from running out while their events take long."""
        while not self._closed.wait(self.renew_every):
            with self._held_lock:
                lanes = list(self._held)
            if not lanes:
                continue
            try:
                with self.uow_factory() as uow:
                    events.renew_lanes(uow=uow, lanes=lanes, owner=self.owner)
            except Exception as error:
                if is_transient(error):
                    self.outage.failed(error)
                else:
                    log.exception("renewing event lane leases failed")

    def sweep(self) -> int:
        """Drain every lane with waiting events (the `webhook.sweep` job, and start-up).

        While the database is away it logs the outage once (not a traceback each run) and returns 0.
        """
        try:
            with self.uow_factory() as uow:
                lanes = events.pending_lanes(uow=uow)
            processed = sum(self.drain(lane) for lane in lanes)
        except Exception as error:
            if not is_transient(error):
                raise
            self.outage.failed(error)
            return 0
        self.outage.reached()
        return processed

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

    def stop(self) -> None:
        """Finish the events in hand, release their lanes and take no more (a graceful stop)."""
        self._stopping.set()

    def shutdown(self) -> None:
        self.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._closed.set()
        if self._renewer is not None:
            # mutation-equivalent: 9 or 11 s (the renewer ends at once on _closed)
            self._renewer.join(timeout=10)


class EventWorker:
    """Processes stored events outside the web processes: wakes on PostgreSQL NOTIFY, else polls.

    Runs in the scheduler process (`kizuna scheduler`, started by `kizuna serve`), so the web
    workers only store and answer, and processing never competes with them for a request thread.
    A database outage is logged once when it starts and once when it ends; the LISTEN connection is
    opened again once the database answers.
    """

    def __init__(self, *, pump: EventPump, uow_factory: UnitOfWorkFactory, database_url: str, poll: float = 1.0):
        self.pump = pump
        self.uow_factory = uow_factory
        self.database_url = database_url
        self.poll = poll
        self._listens = database_url.startswith(("postgresql", "postgres"))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # mutation-equivalent: daemon=False (both commands that start a worker stop it in their `finally`)
        self._thread = threading.Thread(target=self._run, name="kizuna-event-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the events in hand, their lanes released."""
        self._stop.set()
        self.pump.stop()
        if self._thread is not None:
            self._thread.join(
                timeout=30,  # mutation-equivalent: 29 or 31 s (a bound on waiting for the event in hand)
            )

    def drain_once(self) -> None:
        with self.uow_factory() as uow:
            lanes = events.pending_lanes(uow=uow)
        if lanes:
            self.pump.submit(lanes)
            self.pump.wait_idle(
                timeout=300,  # mutation-equivalent: 299 or 301 s (a bound; lanes come back in the next pass)
            )

    def _run(self) -> None:
        listener = None
        while not self._stop.is_set():
            if listener is None and self._listens:
                listener = self._listener()  # again after an outage; the pass below catches what came meanwhile
            try:
                self.drain_once()
            except Exception as error:
                if is_transient(error):
                    self.pump.outage.failed(error)
                else:
                    log.exception("event worker pass failed; trying again")
            else:
                self.pump.outage.reached()
            listener = self._wait(listener)
        if listener is not None:
            listener.close()

    def _listener(self):
        """A connection LISTENing for new events, or None (polling) while it cannot be opened."""
        try:
            import psycopg
            from sqlalchemy.engine import make_url

            from crm_core.db import normalize_url

            url = make_url(normalize_url(self.database_url)).set(drivername="postgresql")
            connection = psycopg.connect(
                url.render_as_string(hide_password=False),
                autocommit=True,
                connect_timeout=5,  # mutation-equivalent: 4 or 6 s (how long a pass waits for a database that is away)
            )
        except ImportError:
            self._listens = False
            log.warning("cannot LISTEN for new events (no psycopg); polling every %s s", self.poll)
            return None
        except psycopg.OperationalError as error:
            self.pump.outage.failed(error)  # the database is away: tried again on the next pass
            return None
        try:
            connection.execute(f"LISTEN {events.NOTIFY_CHANNEL}")
        except psycopg.Error as error:
            # mutation-equivalent: the close removed (a LISTEN fails on a connection the server has ended; the
            # connection object, dropped on return, frees the client's socket when collected)
            connection.close()
            self.pump.outage.failed(error)
            return None
        return connection

    def _wait(self, listener):
        """Wait for a NOTIFY or `poll` seconds; returns the listener, or None when its connection was lost."""
        if listener is None:
            self._stop.wait(self.poll)
            return None
        deadline = time.monotonic() + self.poll
        try:
            # mutation-equivalent: `>` -> `>=` (two clock readings are never exactly the poll apart; at 0 the
            # wait below would return at once anyway)
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                # in slices of a second at most, so that a stop does not wait for the next NOTIFY
                if any(True for _ in listener.notifies(timeout=min(left, 1.0))):  # `any` stops at the first
                    break
        except Exception as error:
            log.warning("lost the LISTEN connection (%s); opening it again", type(error).__name__)
            # mutation-equivalent: the close removed (the server has ended the connection; dropped on return, it
            # frees the client's socket when collected)
            listener.close()
            return None
        return listener
