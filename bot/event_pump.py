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

from bot.delivery import OutboxDelivery
from bot.handlers import HANDLERS, NEEDS_PROFILE
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

    def process(self, event_id: int) -> str:
        """Run one stored event; returns its new status (`done`, `failed`, or `skipped`)."""
        with self.uow_factory() as uow:
            row = uow.session.get(WebhookEvent, event_id)
            if row is None or row.status != "pending":
                return "skipped"
            body, event_type, lane = row.body, row.event_type, row.lane
        profile = self.gateway.get_profile(lane) if event_type in NEEDS_PROFILE and lane.startswith("U") else None
        try:
            outbox_ids = self._run(event_id, body, event_type, profile)
        except Exception as error:  # recorded with the event; the next event goes on
            log.exception("webhook event %s (%s) failed", event_id, event_type)
            with self.uow_factory() as uow:
                detail = "".join(traceback.format_exception_only(type(error), error)).strip()
                events.mark_failed(uow=uow, event_id=event_id, error=detail)
                uow.commit()
            return "failed"
        if outbox_ids:
            self.delivery.deliver(outbox_ids)
        return "done"

    def _run(self, event_id: int, body: dict, event_type: str, profile) -> list[int]:
        with self.uow_factory() as uow:
            row = uow.session.get(WebhookEvent, event_id)
            source = body.get("source") or {}
            handler = HANDLERS.get(event_type)
            queued: list[int] = []
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
                if ctx.replies:
                    rows = outbox.enqueue(
                        uow=uow,
                        address=identity.address,
                        customer_id=identity.customer_id,
                        messages=ctx.replies,
                        category="reply",
                        reply_token=body.get("replyToken"),
                        reply_token_issued_at=min(_event_time(body) or uow.now(), uow.now()),
                        dedupe_key=f"event:{row.webhook_event_id}",
                    )
                    channels.record_message(
                        uow=uow, identity=identity, kind="message_out", summary=_summary(ctx.replies)
                    )
                    queued = [r.id for r in rows]
            events.mark_done(uow=uow, event=row)
            uow.commit()
            return queued


def _event_time(body: dict):
    from datetime import UTC, datetime

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
            try:
                while True:
                    with self.uow_factory() as uow:
                        pending = events.next_pending(uow=uow, lane=lane)
                        event_id = pending.id if pending else None
                    if event_id is None:
                        break
                    self.processor.process(event_id)
                    processed += 1
            finally:
                with self.uow_factory() as uow:
                    events.release_lane(uow=uow, lane=lane, owner=self.owner)
            # an event stored while we released would have found the lane taken: look once more
            with self.uow_factory() as uow:
                if not events.has_pending(uow=uow, lane=lane):
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
