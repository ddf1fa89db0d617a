"""Outbox delivery: sends what the outbox holds, once, after the commit that wrote it.

Every try is written down (and committed) before its request leaves, so a process that dies while
LINE answers leaves a row that says a try was under way. A reply uses the event's reply token (free)
while it is fresh. A reply whose outcome is unknown (the process died, or no answer came back) may
have reached the customer: it is tried again as a reply while the token is fresh (LINE then calls
the token used, which means the first try went through), and once the token is stale it counts as
sent. So a reply that may have arrived is never followed by a push of the same messages. A push
carries the row's own X-Line-Retry-Key, so LINE answers a repeat of a push it took with 409 instead
of showing the customer a second message.

A failed try is retried with exponential backoff and jitter for 24 hours (as long as LINE keeps a
retry key), then the row fails with the reason. A request LINE refuses (400) fails at once and never
holds up the rows behind it. A spent monthly quota holds every push until next month, or until an
admin re-queues them.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

from bot.line_gateway import LineGateway, SendError
from crm_core import channels, outbox
from crm_core.models import OutboxMessage
from crm_core.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

BACKOFF_CEILING = timedelta(minutes=10)  # a LINE outage ends, at worst, this long before the retry
REPLY_IN_DOUBT = "reply-unconfirmed: the reply may have reached LINE; its answer was lost, so it counts as sent"


@dataclass
class DeliveryReport:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    held: int = 0  # pushes waiting for LINE's monthly quota
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Claimed:
    """What one delivery attempt needs of an outbox row, read while it was claimed."""

    id: int
    address: str
    messages: list
    retry_key: str
    reply_token: str | None  # only while still fresh
    reply_in_doubt: bool = False  # an earlier reply got no answer (or the process died): LINE may have it

    @classmethod
    def of(cls, row: OutboxMessage, *, now) -> Claimed:
        fresh = row.reply_token and row.reply_token_expires_at and row.reply_token_expires_at > now
        in_doubt = bool(row.reply_token) and row.sending_via == "reply"
        return cls(row.id, row.address, row.messages, row.retry_key, row.reply_token if fresh else None, in_doubt)


def _backoff(attempts: int) -> timedelta:
    """Exponential (5 s, 10 s, 20 s, ... up to 10 minutes) with jitter, so a backlog does not retry in step."""
    ceiling = min(BACKOFF_CEILING.total_seconds(), 5 * 2 ** min(attempts, 16))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not a secret


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
            if not claimed.reply_token and not claimed.reply_in_doubt and outbox.quota_held_until(uow=uow):
                row.claimed_until = None  # a push, and LINE's monthly quota is spent: it waits
                uow.commit()
                report.held += 1
                return
            uow.rollback()  # hold no transaction while LINE answers
        self._send_and_record(claimed, report)

    def deliver_claimed(self, rows: list[Claimed]) -> DeliveryReport:
        """Send rows the caller wrote already claimed (`outbox.enqueue(claim=True)`) in the same process."""
        report = DeliveryReport()
        for claimed in rows:
            self._send_and_record(claimed, report)
        return report

    def _send_and_record(self, claimed: Claimed, report: DeliveryReport) -> None:
        if claimed.reply_in_doubt and not claimed.reply_token:
            with self.uow_factory() as uow:
                outbox.mark_sent(uow=uow, message_id=claimed.id, via="reply", note=REPLY_IN_DOUBT)
                uow.commit()
            log.warning("outbox %s: an earlier reply may have reached LINE; counted as sent, not pushed", claimed.id)
            report.sent += 1
            return
        self._begin(claimed.id, "reply" if claimed.reply_token else "push")
        try:
            via, error = self._send(claimed)
        except Exception as bug:  # noqa: BLE001 - one message that cannot be sent must not stop the rest
            log.error("outbox %s could not be sent: %s", claimed.id, type(bug).__name__)
            via, error = None, SendError(-1, f"{type(bug).__name__}: Kizuna could not build this request")
        self._record(claimed.id, via, error, report)

    def _begin(self, message_id: int, via: str) -> None:
        with self.uow_factory() as uow:
            outbox.start_attempt(uow=uow, message_id=message_id, via=via)
            uow.commit()

    def _record(self, message_id: int, via: str | None, error: SendError | None, report: DeliveryReport) -> None:
        with self.uow_factory() as uow:
            if error is None:
                outbox.mark_sent(uow=uow, message_id=message_id, via=via)
                report.sent += 1
            elif error.quota_spent:
                until = outbox.hold_for_quota(uow=uow, message_id=message_id, error=str(error))
                report.held += 1
                log.warning("LINE's monthly message quota is spent: pushes wait until %s", until.date())
            else:
                row = uow.session.get(OutboxMessage, message_id)
                retry_in = _backoff(row.attempts) if error.retryable else None
                outbox.mark_attempt_failed(
                    uow=uow, message_id=message_id, error=str(error), retry_in=retry_in, unsure=error.unsure
                )
                if row.status == "failed":
                    report.failed += 1
                    log.error("outbox %s failed for good: LINE %s", message_id, error.status)
                else:
                    report.retry_later += 1
                    log.warning("outbox %s will be retried: LINE %s", message_id, error.status)
                report.details.append(f"{message_id}: {error}")
            uow.commit()

    def _send(self, claimed: Claimed) -> tuple[str | None, SendError | None]:
        """Reply while the token is fresh, else push with the row's retry key.

        A reply LINE refuses for its token goes as a push, unless an earlier try of it got no answer:
        then the token is used because that try went through.
        """
        if claimed.reply_token:
            try:
                self.gateway.reply(reply_token=claimed.reply_token, messages=claimed.messages)
                return "reply", None
            except SendError as error:
                if not error.bad_reply_token:
                    return None, error
                if claimed.reply_in_doubt:
                    log.info("reply token already used by an earlier try of outbox %s: sent", claimed.id)
                    return "reply", None
                log.info("reply token refused (%s); pushing instead", error.status)
                self._begin(claimed.id, "push")
        try:
            self.gateway.push(to=claimed.address, messages=claimed.messages, retry_key=claimed.retry_key)
            return "push", None
        except SendError as error:
            if error.already_accepted:
                return "push", None
            return None, error
