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
retry key), honouring LINE's `Retry-After`, then the row fails with the reason. A request LINE
refuses (400) fails at once and never holds up the rows behind it. A spent monthly quota holds every
push until next month, or until an admin re-queues them; before a large send the dispatcher asks
LINE how much of the quota is left and holds the marketing messages that would not fit.

The dispatcher (`deliver_due`, the `outbox.deliver` job) works in rounds: claim a few hundred rows
at once, cancel what may no longer go (blocked; for marketing also opted out, no consent), hold
marketing during quiet hours, group identical messages into multicasts (up to 500 recipients, each
batch with its own retry key, written and committed before its request leaves), then send on a small
thread pool, each request paced (`bot.pacing`) under LINE's rate limits for all processes together.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from bot.line_gateway import MONTHLY_LIMIT, LineGateway, SendError
from bot.pacing import Pacer
from crm_core import dispatch, outbox, quiet_hours
from crm_core.config import Settings
from crm_core.models import OutboxMessage
from crm_core.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

BACKOFF_CEILING = timedelta(minutes=10)  # a LINE outage ends, at worst, this long before the retry
REPLY_IN_DOUBT = "reply-unconfirmed: the reply may have reached LINE; its answer was lost, so it counts as sent"
# mutation-equivalent: ROUND +-1 (a batch size: what one round leaves goes in the run's next round)
ROUND = 2000  # rows claimed at once: about a second of pushes at LINE's limit
QUOTA_CHECK_FROM = 100  # a round sending to this many asks LINE first how much of the monthly quota is left
QUOTA_RECHECK = timedelta(hours=1)
# LINE said "too fast": every dispatcher pauses that endpoint this long (its Retry-After, up to MAX_PAUSE);
# the refused rows themselves wait their backoff, never less than the Retry-After
PAUSE_ON_429, MAX_PAUSE = 0.1, 1.0  # marketing held for the quota is tried again this much later


@dataclass
class DeliveryReport:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    held: int = 0  # pushes waiting for LINE's monthly quota
    held_quiet_hours: int = 0  # marketing messages waiting for the quiet hours to end
    requests: int = 0  # push and multicast requests to LINE
    multicasts: int = 0
    recipients: int = 0  # customers reached by those requests
    details: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = (self.sent, self.retry_later, self.failed, self.cancelled, self.skipped, self.held)
        if not any(counts) and not self.held_quiet_hours and not self.requests:
            return "nothing to deliver"
        return (
            f"sent {self.sent}, retry later {self.retry_later}, failed {self.failed}, "
            f"cancelled {self.cancelled}, skipped {self.skipped}, held for LINE's monthly quota {self.held}, "
            f"held for quiet hours {self.held_quiet_hours}; {self.requests} request(s) to LINE "
            f"({self.multicasts} multicast) for {self.recipients} recipient(s)"
        )


@dataclass
class _Quota:
    """LINE's monthly quota as asked once per `deliver_due`, counted down as its rounds plan their sends."""

    asked: bool = False
    left: int | None = None  # None: not asked yet, no limit, or LINE could not say


# mutation-equivalent: frozen=False (nothing assigns to a _Send or a Claimed)
@dataclass(frozen=True)
class _Send:
    """One request to LINE: a push of one row, or a multicast of a batch of rows."""

    endpoint: str  # push | multicast
    row_ids: tuple[int, ...]
    to: tuple[str, ...]
    messages: list
    retry_key: str
    attempts: int  # tries before this one
    batch_id: int | None = None


# mutation-equivalent: frozen=False (nothing assigns to a _Send or a Claimed)
@dataclass(frozen=True)
class Claimed:
    """What one delivery attempt needs of an outbox row, read while it was claimed."""

    id: int
    address: str
    messages: list
    retry_key: str
    reply_token: str | None  # only while still fresh
    # mutation-equivalent: default True (every Claimed is made by `of`, which always says)
    reply_in_doubt: bool = False  # an earlier reply got no answer (or the process died): LINE may have it

    @classmethod
    def of(cls, row: dispatch.Due, *, now) -> Claimed:
        fresh = row.reply_token and row.reply_token_expires_at and row.reply_token_expires_at > now
        in_doubt = bool(row.reply_token) and row.sending_via == "reply"
        return cls(row.id, row.address, row.messages, row.retry_key, row.reply_token if fresh else None, in_doubt)


def _backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential (5 s, 10 s, 20 s, ... up to 10 minutes) with jitter, so a backlog does not retry in step.

    Never sooner than LINE's `Retry-After`, when it gave one.
    """
    # mutation-equivalent: the exponent's cap 16 +-1 (from the 7th try on the ceiling is 10 minutes anyway)
    ceiling = min(BACKOFF_CEILING.total_seconds(), 5 * 2 ** min(attempts, 16))
    seconds = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        seconds = max(seconds, retry_after * random.uniform(1.0, 1.2))  # noqa: S311
    return timedelta(seconds=seconds)


class OutboxDelivery:
    def __init__(self, *, uow_factory: UnitOfWorkFactory, gateway: LineGateway, settings: Settings | None = None):
        self.uow_factory = uow_factory
        self.gateway = gateway
        self.settings = settings or Settings()
        rates = {"push": self.settings.line_push_rate, "multicast": self.settings.line_multicast_rate}
        self.pacer = Pacer(uow_factory=uow_factory, rates=rates)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        """Stop the sending threads (they are started on the first round that needs them)."""
        with self._pool_lock:
            if self._pool is not None:
                # mutation-equivalent: wait=False (every round waits for its requests, so the threads are idle
                # when this runs and end as soon either way)
                self._pool.shutdown(wait=True)
                self._pool = None

    def deliver_due(self, *, limit: int = ROUND, max_seconds: float | None = None) -> DeliveryReport:
        """Everything pending that may go now, round after round until nothing is due (the `outbox.deliver` job)."""
        report, quota = DeliveryReport(), _Quota()
        started, seen, in_flight = time.monotonic(), set(), None
        try:
            while True:
                with self.uow_factory() as uow:
                    rows = dispatch.claim_due(uow=uow, limit=limit)
                if not rows or {row.id for row in rows} <= seen:
                    break
                seen.update(row.id for row in rows)
                sends = self._prepare(rows, report, quota)  # while the round before is still with LINE
                if in_flight is not None:
                    self._finish(in_flight, report)
                    in_flight = None
                if sends:
                    in_flight = self._start(sends)
                # mutation-equivalent: > -> >= (elapsed real time never lands exactly on the budget)
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    break
        finally:
            if in_flight is not None:
                self._finish(in_flight, report)
        return report

    def deliver(self, message_ids: list[int]) -> DeliveryReport:
        """These rows now (e.g. a receipt right after its commit); rows another deliverer holds are skipped."""
        report = DeliveryReport()
        if not message_ids:
            return report
        with self.uow_factory() as uow:
            rows = dispatch.claim_due(uow=uow, limit=len(message_ids), ids=list(message_ids))
        report.skipped += len(set(message_ids) - {row.id for row in rows})
        if rows:
            self._round(rows, report)
        return report

    def _round(self, rows: list[dispatch.Due], report: DeliveryReport) -> None:
        """Deliver claimed rows: refuse, hold, then reply, push and multicast."""
        sends = self._prepare(rows, report, _Quota())
        if sends:
            self._finish(self._start(sends), report)

    def _prepare(self, rows: list[dispatch.Due], report: DeliveryReport, quota: _Quota) -> list[_Send]:
        """Refuse and hold what may not go, send the replies, and plan (and record) the pushes and multicasts."""
        rows = self._check(rows, report)
        pushes = []
        for row in rows:
            if row.reply_token:
                self._send_and_record(Claimed.of(row, now=self.uow_factory.clock.now()), report)
            else:
                pushes.append(row)
        pushes = self._check_quota(pushes, report, quota)
        return self._plan(pushes) if pushes else []

    def _check(self, rows: list[dispatch.Due], report: DeliveryReport) -> list[dispatch.Due]:
        """Cancel what may no longer go, hold marketing in quiet hours; returns the rows that go now."""
        with self.uow_factory() as uow:
            now = uow.now()
            quiet = quiet_hours.in_force(uow=uow, override=self.settings.quiet_hours, zone=self.settings.zone)
            refused, held, go = {}, [], []
            for row in rows:
                if row.refusal is not None:
                    refused[row.id] = row.refusal
                elif row.category == "marketing" and quiet.is_quiet(now):
                    held.append(row.id)
                else:
                    go.append(row)
            dispatch.cancel_many(uow=uow, reasons=refused)
            if held:
                dispatch.hold(uow=uow, ids=held, reason="quiet_hours", until=quiet.ends_at(now))
            uow.commit()
        report.cancelled += len(refused)
        report.held_quiet_hours += len(held)
        return go

    def _check_quota(self, rows: list[dispatch.Due], report: DeliveryReport, quota: _Quota) -> list[dispatch.Due]:
        """Before a large send, ask LINE what is left of the monthly quota; hold the marketing that does not fit.

        Asked once per `deliver_due`: later rounds count down from that answer.
        """
        if not quota.asked:
            if len(rows) < QUOTA_CHECK_FROM:
                return rows
            quota.asked = True
            try:
                quota.left = self.gateway.quota_left()
            except SendError as error:
                log.warning("could not ask LINE for the monthly quota (%s); sending anyway", error.status)
        left = quota.left
        if left is None:
            return rows
        if left >= len(rows):
            quota.left -= len(rows)
            return rows
        marketing = [row.id for row in rows if row.category == "marketing"]
        note = (
            f"quota: LINE's monthly message quota has {left} message(s) left and this send needs {len(rows)}; "
            "marketing messages wait (raise the plan, then `kizuna outbox retry --all`)"
        )
        with self.uow_factory() as uow:
            dispatch.hold(uow=uow, ids=marketing, reason="quota", until=uow.now() + QUOTA_RECHECK, note=note)
            uow.commit()
        log.warning("%s: %d held", note, len(marketing))
        report.held += len(marketing)
        # mutation-equivalent: the detail dropped (nothing reads `details` yet: the log line above says it)
        report.details.append(note)
        going = [row for row in rows if row.category != "marketing"]
        # mutation-equivalent: 0 -> -1 (below zero only when LINE refuses the excess already; -1 and 0 both fit
        # no message of a later round)
        quota.left = max(left - len(going), 0)
        return going

    def _plan(self, rows: list[dispatch.Due]) -> list[_Send]:
        """Group the pushes into requests and record every try (committed) before any request leaves.

        A batch sent before goes again whole under its key; rows never tried go as one multicast per
        identical message; the rest (tried alone before, or alone of their kind) as pushes.
        """
        sends, singles = [], []
        with self.uow_factory() as uow:
            batches, groups = defaultdict(list), defaultdict(list)
            for row in rows:
                if row.batch_id is not None:
                    batches[row.batch_id].append(row)
                elif row.attempts == 0 and row.sending_via is None:
                    groups[(row.category, row.messages_text)].append(row)
                else:
                    singles.append(row)
            for batch_id, members in batches.items():
                batch = dispatch.get_batch(uow=uow, batch_id=batch_id)
                sends.append(self._multicast(members, batch.retry_key, batch_id))
            for members in groups.values():
                seen, unique = set(), []
                for row in members:
                    (singles if row.address in seen else unique).append(row)
                    seen.add(row.address)
                for index in range(0, len(unique), dispatch.MULTICAST_MAX):
                    chunk = unique[index : index + dispatch.MULTICAST_MAX]
                    if len(chunk) < 2:
                        singles += chunk
                        continue
                    batch = dispatch.create_batch(uow=uow, ids=[row.id for row in chunk])
                    sends.append(self._multicast(chunk, batch.retry_key, batch.id))
            for row in singles:
                sends.append(_Send("push", (row.id,), (row.address,), row.messages, row.retry_key, row.attempts))
            multicast_ids = [row_id for send in sends if send.endpoint == "multicast" for row_id in send.row_ids]
            dispatch.start_attempts(uow=uow, ids=multicast_ids, via="multicast")
            dispatch.start_attempts(uow=uow, ids=[row.id for row in singles], via="push")
            uow.commit()
        return sends

    @staticmethod
    def _multicast(rows: list[dispatch.Due], retry_key: str, batch_id: int) -> _Send:
        # mutation-equivalent: max -> min (a batch is only made of rows never tried, and its rows are tried together)
        attempts = max(row.attempts for row in rows)
        to = tuple(row.address for row in rows)
        # mutation-equivalent: rows[0] -> rows[-1] (a batch's rows carry identical messages)
        return _Send("multicast", tuple(row.id for row in rows), to, rows[0].messages, retry_key, attempts, batch_id)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.delivery_threads, thread_name_prefix="kizuna-delivery")
            return self._pool

    def _start(self, sends: list[_Send]) -> tuple:
        """Send a round's requests on the thread pool; `_finish` waits for them and records LINE's answers.

        The first goes alone: should it find LINE's monthly quota spent, the rest are not even tried.
        """
        spent = threading.Event()
        first = self._request(sends[0], spent)
        return sends, first, [self._executor().submit(self._request, send, spent) for send in sends[1:]]

    def _finish(self, in_flight: tuple, report: DeliveryReport) -> None:
        sends, first, futures = in_flight
        results = [first] + [future.result() for future in futures]
        report.requests += len(sends)
        report.multicasts += sum(1 for send in sends if send.endpoint == "multicast")
        self._record_all(results, report)

    def _request(self, send: _Send, spent: threading.Event) -> tuple[_Send, SendError | None]:
        """Send one request at the pace LINE allows; a 409 means LINE took this very request before."""
        if spent.is_set():
            return send, SendError(429, f"{MONTHLY_LIMIT} (not tried: an earlier request of this round found it)")
        try:
            self.pacer.wait(send.endpoint)
            if send.endpoint == "multicast":
                self.gateway.multicast(to=list(send.to), messages=send.messages, retry_key=send.retry_key)
            else:
                # mutation-equivalent: to[0] -> to[-1] (a push has one recipient)
                self.gateway.push(to=send.to[0], messages=send.messages, retry_key=send.retry_key)
        except SendError as error:
            if error.already_accepted:
                return send, None
            if error.quota_spent:
                spent.set()
            elif error.status == 429:
                self.pacer.slow_down(send.endpoint, min(error.retry_after or PAUSE_ON_429, MAX_PAUSE))
            return send, error
        except Exception as bug:  # noqa: BLE001 - one message that cannot be sent must not stop the rest
            # mutation-equivalent: row_ids[0] -> [-1] (one row for a push; a multicast's log names its last row)
            log.error("outbox %s could not be sent: %s", send.row_ids[0], type(bug).__name__)
            return send, SendError(-1, f"{type(bug).__name__}: Kizuna could not build this request")
        return send, None

    def _record_all(self, results: list[tuple[_Send, SendError | None]], report: DeliveryReport) -> None:
        """Write LINE's answers for a round in one transaction."""
        with self.uow_factory() as uow:
            # mutation-equivalent: is not -> is (the rows loaded at once; the updates below load the others themselves)
            failures = [row_id for send, error in results if error is not None for row_id in send.row_ids]
            # mutation-equivalent: the load dropped, or of the other rows (it only saves a query per failed row)
            dispatch.load(uow=uow, ids=failures)  # at once, so the per-row updates below need no query each
            sent = defaultdict(list)
            for send, error in results:
                if error is None:
                    sent[send.endpoint] += send.row_ids
                    if send.batch_id is not None:
                        dispatch.finish_batch(uow=uow, batch_id=send.batch_id, status="sent")
                else:
                    self._record_failure(uow, send, error, report)
            for endpoint, ids in sent.items():
                dispatch.mark_sent_many(uow=uow, ids=ids, via=endpoint)
                report.sent += len(ids)
                report.recipients += len(ids)
            uow.commit()

    def _record_failure(self, uow, send: _Send, error: SendError, report: DeliveryReport) -> None:
        if error.quota_spent:
            for row_id in send.row_ids:
                until = outbox.hold_for_quota(uow=uow, message_id=row_id, error=str(error))
            report.held += len(send.row_ids)
            log.warning("LINE's monthly message quota is spent: pushes wait until %s", until.date())
            return
        tries = send.attempts + 1  # `attempts` was read before this try was counted
        retry_in = _backoff(tries, error.retry_after) if error.retryable else None
        failed = 0
        for row_id in send.row_ids:
            outbox.mark_attempt_failed(
                uow=uow, message_id=row_id, error=str(error), retry_in=retry_in, unsure=error.unsure
            )
            failed += uow.session.get(OutboxMessage, row_id).status == "failed"
        if send.batch_id is not None and failed:
            dispatch.finish_batch(uow=uow, batch_id=send.batch_id, status="failed")
        report.failed += failed
        report.retry_later += len(send.row_ids) - failed
        # mutation-equivalent: the detail dropped, or row_ids[-1] (nothing reads `details` yet; the row has the error)
        report.details.append(f"{send.row_ids[0]}: {error}")
        if failed:
            log.error("outbox %s failed for good: LINE %s", ",".join(map(str, send.row_ids[:5])), error.status)
        else:
            log.warning("outbox %s will be retried: LINE %s", ",".join(map(str, send.row_ids[:5])), error.status)

    def deliver_claimed(self, rows: list[Claimed]) -> DeliveryReport:
        """Send rows the caller wrote already claimed (`outbox.enqueue(claim=True)`) in the same process."""
        report = DeliveryReport()
        for claimed in rows:
            self._send_and_record(claimed, report)
        # mutation-equivalent: return None (its one caller, the event worker, does not read the report)
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
                # mutation-equivalent: the detail dropped (nothing reads `details` yet; the row has the error)
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
