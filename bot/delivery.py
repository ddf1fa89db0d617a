"""Outbox delivery: sends what the outbox holds, once, after the commit that wrote it.

A reply uses the event's reply token (free) while it is fresh; otherwise, or when LINE refuses the
token, the same messages go as a push with the row's own X-Line-Retry-Key, so a crash between
sending and recording is answered by LINE with 409 (already accepted) instead of a second message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bot.line_gateway import LineGateway, SendError
from crm_core import channels, outbox
from crm_core.models import OutboxMessage
from crm_core.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    details: list[str] = field(default_factory=list)


REPLY_UNCLEAR = "reply-unclear:"  # last_error prefix: LINE may or may not have taken that reply


@dataclass(frozen=True)
class Claimed:
    """What one delivery attempt needs of an outbox row, read while it was claimed."""

    id: int
    address: str
    messages: list
    retry_key: str
    reply_token: str | None  # only while still fresh
    reply_tried: bool = False  # an earlier reply got no clear answer: LINE may have taken it

    @classmethod
    def of(cls, row: OutboxMessage, *, now) -> Claimed:
        fresh = row.reply_token and row.reply_token_expires_at and row.reply_token_expires_at > now
        tried = bool(row.reply_token) and REPLY_UNCLEAR in (row.last_error or "")
        return cls(row.id, row.address, row.messages, row.retry_key, row.reply_token if fresh else None, tried)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2**attempts))


class OutboxDelivery:
    def __init__(self, *, uow_factory: UnitOfWorkFactory, gateway: LineGateway):
        self.uow_factory = uow_factory
        self.gateway = gateway

    def deliver_due(self, *, limit: int = 200) -> DeliveryReport:
        """Everything pending that may go now (the `outbox.deliver` job)."""
        with self.uow_factory() as uow:
            ids = [row.id for row in outbox.due(uow=uow, limit=limit)]
        return self.deliver(ids)

    def deliver(self, message_ids: list[int]) -> DeliveryReport:
        report = DeliveryReport()
        for message_id in message_ids:
            self._deliver_one(message_id, report)
        return report

    def _deliver_one(self, message_id: int, report: DeliveryReport) -> None:
        with self.uow_factory() as uow:
            if not outbox.claim(uow=uow, message_id=message_id):
                report.skipped += 1
                return
            row: OutboxMessage = uow.session.get(OutboxMessage, message_id)
            identity = channels.get_identity(uow=uow, address=row.address, channel=row.channel)
            if identity is not None and identity.blocked_at is not None:
                outbox.cancel(uow=uow, message_id=message_id, reason="blocked")
                uow.commit()
                report.cancelled += 1
                return
            claimed = Claimed.of(row, now=uow.now())
            uow.rollback()  # hold no transaction while LINE answers
        self._send_and_record(claimed, report)

    def deliver_claimed(self, rows: list[Claimed]) -> DeliveryReport:
        """Send rows the caller wrote already claimed (`outbox.enqueue(claim=True)`) in the same process."""
        report = DeliveryReport()
        for claimed in rows:
            self._send_and_record(claimed, report)
        return report

    def _send_and_record(self, claimed: Claimed, report: DeliveryReport) -> None:
        message_id = claimed.id
        via, error = self._send(claimed)
        with self.uow_factory() as uow:
            if error is None:
                outbox.mark_sent(uow=uow, message_id=message_id, via=via)
                report.sent += 1
            else:
                row = uow.session.get(OutboxMessage, message_id)
                retry_in = _backoff(row.attempts) if error.retryable else None
                outbox.mark_attempt_failed(uow=uow, message_id=message_id, error=str(error), retry_in=retry_in)
                if retry_in is None or row.status == "failed":
                    report.failed += 1
                    log.error("outbox %s failed for good: LINE %s", message_id, error.status)
                else:
                    report.retry_later += 1
                    log.warning("outbox %s will be retried: LINE %s", message_id, error.status)
                report.details.append(f"{message_id}: {error}")
            uow.commit()

    def _send(self, claimed: Claimed) -> tuple[str | None, SendError | None]:
        """Reply while the token is fresh, else push with the row's retry key.

        A reply that got no clear answer (a timeout, a 5xx) may have reached the customer: it is
        retried as a reply only, and a token LINE then calls used means the first try went through,
        so the customer never gets the same answer twice.
        """
        if claimed.reply_token:
            try:
                self.gateway.reply(reply_token=claimed.reply_token, messages=claimed.messages)
                return "reply", None
            except SendError as error:
                if error.retryable:
                    return None, SendError(error.status, f"{REPLY_UNCLEAR} {error.reason}")
                if claimed.reply_tried:
                    log.info("reply token already used by an earlier try of outbox %s: sent", claimed.id)
                    return "reply", None
                log.info("reply token refused (%s); pushing instead", error.status)
        elif claimed.reply_tried:
            log.warning(
                "outbox %s: an earlier reply may have reached LINE; pushing once with its retry key", claimed.id
            )
        try:
            self.gateway.push(to=claimed.address, messages=claimed.messages, retry_key=claimed.retry_key)
            return "push", None
        except SendError as error:
            if error.already_accepted:
                return "push", None
            return None, error
