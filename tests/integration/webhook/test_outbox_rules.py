"""The outbox at its edges: batches of five, a reply token's fifty seconds, a claim's minute, the 24-hour retry
window and the month LINE counts its quota by, each at its exact instant with the injected clock (issue 18).

Delivery through LINE is tested in test_delivery.py and test_delivery_guards.py; these tests call
crm_core.outbox directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_core import dispatch, outbox
from crm_core.db import make_engine, make_session_factory
from crm_core.errors import NotFound
from crm_core.models import OutboxMessage
from crm_core.uow import UnitOfWorkFactory

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def uow_factory(database_url, clock):
    """Units of work on the test database, without the app's delivery or event workers."""
    engine = make_engine(database_url)
    yield UnitOfWorkFactory(make_session_factory(engine), clock)
    engine.dispose()


def _texts(n):
    return [{"type": "text", "text": f"message {i}"} for i in range(n)]


def _enqueue(uow_factory, n=1, category="transactional", **options) -> list[int]:
    with uow_factory() as uow:
        rows = outbox.enqueue(uow=uow, address="Ualice", messages=_texts(n), category=category, **options)
        uow.commit()
        return [row.id for row in rows]


def _row(uow_factory, message_id) -> OutboxMessage:
    with uow_factory() as uow:
        return uow.session.get(OutboxMessage, message_id)


def _due(uow_factory, **options) -> list[int]:
    with uow_factory() as uow:
        return [row.id for row in outbox.due(uow=uow, **options)]


def _change(uow_factory, action, **arguments):
    with uow_factory() as uow:
        result = action(uow=uow, **arguments)
        uow.commit()
        return result


def test_messages_go_in_batches_of_five_and_only_the_first_uses_the_reply_token(uow_factory, clock):
    assert len(_enqueue(uow_factory, 5, reply_token="r1")) == 1
    first, second = _enqueue(uow_factory, 6, category="reply", reply_token="r2")
    assert [len(_row(uow_factory, i).messages) for i in (first, second)] == [5, 1]
    assert _row(uow_factory, first).messages[0]["text"] == "message 0"
    assert _row(uow_factory, second).messages == [{"type": "text", "text": "message 5"}]
    assert (_row(uow_factory, first).reply_token, _row(uow_factory, second).reply_token) == ("r2", None)
    assert _row(uow_factory, first).reply_token_expires_at == clock.now() + timedelta(seconds=50)
    assert _row(uow_factory, second).reply_token_expires_at is None
    (push,) = _enqueue(uow_factory, 1)
    assert _row(uow_factory, push).reply_token_expires_at is None


def test_a_reply_token_is_aged_from_when_line_issued_it(uow_factory, clock):
    issued = clock.now() - timedelta(seconds=20)
    (row,) = _enqueue(uow_factory, category="reply", reply_token="r1", reply_token_issued_at=issued)
    assert _row(uow_factory, row).reply_token_expires_at == issued + timedelta(seconds=50)


def test_an_unknown_category_is_a_programming_error(uow_factory):
    with pytest.raises(ValueError, match="unknown outbox category"):
        _enqueue(uow_factory, category="newsletter")


def test_a_dedupe_key_queues_a_message_once_and_only_its_own_key_matches(uow_factory):
    rows = _enqueue(uow_factory, 6, dedupe_key="thanks:1")
    assert _enqueue(uow_factory, 6, dedupe_key="thanks:1") == rows
    assert [_row(uow_factory, i).dedupe_key for i in rows] == ["thanks:1#0", "thanks:1#1"]
    assert len(_enqueue(uow_factory, dedupe_key="thanks:")) == 1  # a prefix of another key is another key
    assert len(_enqueue(uow_factory, dedupe_key="thanks_1")) == 1  # _ is not a wildcard
    assert _row(uow_factory, _enqueue(uow_factory)[0]).dedupe_key is None
    assert len({_row(uow_factory, i).retry_key for i in rows}) == 2  # each push its own X-Line-Retry-Key


def test_a_row_is_due_from_its_not_before_instant_oldest_first(uow_factory, clock):
    early, later, sent = _enqueue(uow_factory), _enqueue(uow_factory), _enqueue(uow_factory)
    start = clock.now()
    _change(uow_factory, outbox.mark_attempt_failed, message_id=early[0], error="500", retry_in=timedelta(minutes=1))
    _change(uow_factory, outbox.mark_sent, message_id=sent[0], via="push")
    assert _due(uow_factory) == later
    clock.set(start + timedelta(minutes=1))
    assert _due(uow_factory) == [early[0], later[0]]
    assert _due(uow_factory, limit=1) == early


def test_a_claim_keeps_other_deliverers_off_for_a_minute_and_not_a_moment_less(uow_factory, clock):
    (row,) = _enqueue(uow_factory)
    start = clock.now()
    assert _change(uow_factory, outbox.claim, message_id=row)
    assert _row(uow_factory, row).claimed_until == start + timedelta(seconds=60)
    clock.set(start + timedelta(seconds=60))
    assert not _change(uow_factory, outbox.claim, message_id=row)
    clock.set(start + timedelta(seconds=60, microseconds=1))
    assert _change(uow_factory, outbox.claim, message_id=row)
    _change(uow_factory, outbox.mark_sent, message_id=row, via="push")
    clock.advance(hours=1)
    assert not _change(uow_factory, outbox.claim, message_id=row)  # sent: nobody sends it again


def test_a_claim_holds_at_once_even_if_the_callers_unit_of_work_ends_without_a_commit(uow_factory):
    (row,) = _enqueue(uow_factory)
    with uow_factory() as uow:
        assert outbox.claim(uow=uow, message_id=row)  # then the request to LINE, which may take long
    with uow_factory() as other_deliverer:
        assert not outbox.claim(uow=other_deliverer, message_id=row)


def test_rows_the_caller_delivers_itself_are_queued_already_claimed(uow_factory, clock):
    (row,) = _enqueue(uow_factory, claim=True)
    assert _row(uow_factory, row).claimed_until == clock.now() + timedelta(seconds=60)
    assert not _change(uow_factory, outbox.claim, message_id=row)
    (other,) = _enqueue(uow_factory)
    assert _row(uow_factory, other).claimed_until is None


def test_an_attempt_is_recorded_before_it_leaves_and_its_outcome_after(uow_factory, clock):
    (row,) = _enqueue(uow_factory)
    first = clock.now()
    _change(uow_factory, outbox.start_attempt, message_id=row, via="push")
    clock.advance(minutes=1)
    _change(
        uow_factory, outbox.mark_attempt_failed, message_id=row, error="timeout", retry_in=timedelta(0), unsure=True
    )
    unsure = _row(uow_factory, row)
    assert (unsure.sending_via, unsure.claimed_until, unsure.status) == ("push", None, "pending")
    _change(uow_factory, outbox.start_attempt, message_id=row, via="push")
    retried = _row(uow_factory, row)
    assert (retried.attempts, retried.first_attempted_at, retried.attempted_at) == (2, first, clock.now())
    _change(uow_factory, outbox.mark_attempt_failed, message_id=row, error="500", retry_in=timedelta(0))
    assert _row(uow_factory, row).sending_via is None
    _change(uow_factory, outbox.mark_sent, message_id=row, via="push", note="409: LINE had it already")
    sent = _row(uow_factory, row)
    assert (sent.status, sent.sent_via, sent.sent_at, sent.sending_via) == ("sent", "push", clock.now(), None)
    assert sent.last_error == "409: LINE had it already"


def test_retries_go_on_until_exactly_24_hours_after_the_first_try(uow_factory, clock):
    (row,) = _enqueue(uow_factory)
    first = clock.now()
    _change(uow_factory, outbox.start_attempt, message_id=row, via="push")
    clock.set(first + timedelta(hours=23))
    _change(uow_factory, outbox.mark_attempt_failed, message_id=row, error="500", retry_in=timedelta(hours=1))
    assert (_row(uow_factory, row).status, _row(uow_factory, row).not_before) == (
        "pending",
        first + timedelta(hours=24),
    )
    _change(
        uow_factory,
        outbox.mark_attempt_failed,
        message_id=row,
        error="5" * 3000,
        retry_in=timedelta(hours=1, seconds=1),
    )
    failed = _row(uow_factory, row)
    assert failed.status == "failed"
    assert failed.last_error.startswith("gave up after 24 hours: 555")
    assert len(failed.last_error) == 2000


def test_a_request_line_will_never_accept_fails_at_once(uow_factory):
    (row,) = _enqueue(uow_factory)
    _change(uow_factory, outbox.mark_attempt_failed, message_id=row, error="4" * 3000, retry_in=None)
    failed = _row(uow_factory, row)
    assert (failed.status, failed.last_error) == ("failed", "4" * 2000)


@pytest.mark.parametrize(
    ("now", "next_month"),
    [
        # the last second of November in Tokyo: pushes go again at midnight, 1 December, Tokyo time
        (datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=TOKYO)),
        # UTC is still in November, Tokyo already in December: next month is January
        (datetime(2026, 11, 30, 15, 0, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=TOKYO)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=TOKYO)),
        (datetime(2027, 2, 1, 0, 0, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=TOKYO)),
    ],
)
def test_a_spent_quota_holds_pushes_until_the_month_turns_in_japan(uow_factory, clock, now, next_month):
    clock.set(now)
    (row,) = _enqueue(uow_factory)
    assert _change(uow_factory, outbox.hold_for_quota, message_id=row, error="429 " + "x" * 3000) == next_month
    held = _row(uow_factory, row)
    assert (held.not_before, held.last_error) == (next_month, ("monthly-limit: 429 " + "x" * 3000)[:2000])
    assert len(held.last_error) == 2000


def test_while_the_quota_is_spent_only_replies_with_a_live_token_go(uow_factory, clock):
    (push,) = _enqueue(uow_factory)
    (other_push,) = _enqueue(uow_factory)
    (reply,) = _enqueue(uow_factory, category="reply", reply_token="r1")
    until = _change(uow_factory, outbox.hold_for_quota, message_id=push, error="429")
    with uow_factory() as uow:
        assert outbox.quota_held_until(uow=uow) == until
    assert _due(uow_factory) == [reply]
    clock.advance(seconds=50)  # at its expiry instant the reply token is no use
    assert _due(uow_factory) == []
    clock.set(until - timedelta(microseconds=1))
    with uow_factory() as uow:
        assert outbox.quota_held_until(uow=uow) == until
    clock.set(until)
    with uow_factory() as uow:
        assert outbox.quota_held_until(uow=uow) is None
    assert _due(uow_factory) == [push, other_push, reply]


def test_retry_sends_failed_messages_and_held_pushes_again_with_their_retry_keys(uow_factory, clock):
    failed, held, other = _enqueue(uow_factory), _enqueue(uow_factory), _enqueue(uow_factory)
    key = _row(uow_factory, failed[0]).retry_key
    _change(uow_factory, outbox.start_attempt, message_id=failed[0], via="push")
    _change(uow_factory, outbox.mark_attempt_failed, message_id=failed[0], error="400", retry_in=None)
    _change(uow_factory, outbox.hold_for_quota, message_id=held[0], error="429")
    with pytest.raises(NotFound):
        _change(uow_factory, outbox.requeue, message_id=other[0])  # pending, not failed
    assert _change(uow_factory, outbox.requeue, message_id=failed[0]) == 1
    again = _row(uow_factory, failed[0])
    assert (again.status, again.last_error, again.first_attempted_at, again.retry_key) == ("pending", None, None, key)
    _change(uow_factory, outbox.mark_attempt_failed, message_id=failed[0], error="400", retry_in=None)
    assert _change(uow_factory, outbox.requeue) == 2
    assert _due(uow_factory) == [failed[0], held[0], other[0]]
    assert _change(uow_factory, outbox.requeue) == 0


def test_retry_all_sends_every_push_held_for_the_quota_and_leaves_quiet_hours_holds_alone(uow_factory, clock):
    by_dispatcher, held_before_0011, quiet = _enqueue(uow_factory), _enqueue(uow_factory), _enqueue(uow_factory)
    with uow_factory() as uow:
        until = clock.now() + timedelta(hours=1)
        dispatch.hold(uow=uow, ids=by_dispatcher, reason="quota", until=until, note="quota: 3 message(s) left")
        dispatch.hold(uow=uow, ids=quiet, reason="quiet_hours", until=until)
        outbox.hold_for_quota(uow=uow, message_id=held_before_0011[0], error="429")
        # a push held by a Kizuna before migration 0011 says so only in its last_error
        uow.session.get(OutboxMessage, held_before_0011[0]).held_reason = None
        uow.commit()
    assert _change(uow_factory, outbox.requeue) == 2
    assert _due(uow_factory) == by_dispatcher + held_before_0011
    assert (_row(uow_factory, quiet[0]).held_reason, _row(uow_factory, quiet[0]).not_before) == ("quiet_hours", until)


def test_the_system_page_lists_failures_newest_first_and_not_cancelled_ones(uow_factory, clock):
    rows = [_enqueue(uow_factory)[0] for _ in range(3)]
    for row in rows:
        clock.advance(minutes=1)
        _change(uow_factory, outbox.mark_attempt_failed, message_id=row, error=f"error {row}", retry_in=None)
    (cancelled,) = _enqueue(uow_factory)
    _change(uow_factory, outbox.cancel, message_id=cancelled, reason="blocked")
    assert (_row(uow_factory, cancelled).status, _row(uow_factory, cancelled).last_error) == ("cancelled", "blocked")
    with uow_factory() as uow:
        assert [row.id for row in outbox.recent_failures(uow=uow)] == rows[::-1]
        assert [row.id for row in outbox.recent_failures(uow=uow, limit=2)] == rows[:0:-1]
    assert cancelled not in _due(uow_factory)


def test_queued_rows_have_their_ids_before_the_commit_so_the_caller_can_deliver_them_after_it(uow_factory):
    with uow_factory() as uow:
        rows = outbox.enqueue(uow=uow, address="Ualice", messages=_texts(6), category="transactional")
        assert all(row.id is not None for row in rows)
