"""The event store at its edges: what is stored once, which lane waits for what, leases at their expiry instant,
and how long a temporary database error may hold an event back (issue 18).

The worker and the webhook around it are tested in test_event_processing.py, test_lane_leases.py and
test_database_faults.py; these tests call crm_core.events directly, with the injected clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from crm_core import events, outbox
from crm_core.db import make_engine, make_session_factory
from crm_core.models import EventLane, WebhookEvent
from crm_core.uow import UnitOfWorkFactory


@pytest.fixture
def uow_factory(database_url, clock):
    """Units of work on the test database, without the app's event workers."""
    engine = make_engine(database_url)
    yield UnitOfWorkFactory(make_session_factory(engine), clock)
    engine.dispose()


def _event(event_id, user="Ualice", kind="message", **extra):
    return {"webhookEventId": event_id, "type": kind, "source": {"type": "user", "userId": user}, **extra}


def _store(uow_factory, clock, *bodies) -> list[str]:
    with uow_factory.transaction() as connection:
        return events.store_events(connection=connection, events=list(bodies), now=clock.now())


def _all(uow_factory) -> list[WebhookEvent]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def _lease(uow_factory, lane):
    with uow_factory() as uow:
        return uow.session.get(EventLane, lane)


def test_events_are_stored_once_each_with_what_the_worker_needs(uow_factory, clock):
    lanes = _store(
        uow_factory,
        clock,
        _event("e1", deliveryContext={"isRedelivery": True}),
        _event("e2", user="Ubob", kind="follow"),
        _event("e1"),  # the same event twice in one request
        _event("e3"),
    )
    assert lanes == ["Ualice", "Ubob"]  # each lane once, in the order LINE sent them
    assert _store(uow_factory, clock, _event("e1"), _event("e2")) == []  # a redelivery stores nothing
    stored = _all(uow_factory)
    assert [(e.webhook_event_id, e.lane, e.event_type, e.redelivery) for e in stored] == [
        ("e1", "Ualice", "message", True),
        ("e2", "Ubob", "follow", False),
        ("e3", "Ualice", "message", False),
    ]
    assert {(e.status, e.attempts, e.received_at) for e in stored} == {("pending", 0, clock.now())}


def test_an_event_without_a_usable_id_is_not_stored(uow_factory, clock):
    longest = "x" * 64
    lanes = _store(
        uow_factory,
        clock,
        _event(longest),
        _event("y" * 65),
        _event(""),
        _event(12345),
        {"type": "message"},
    )
    assert lanes == ["Ualice"]
    assert [e.webhook_event_id for e in _all(uow_factory)] == [longest]
    assert _store(uow_factory, clock, _event(None)) == []


def test_groups_rooms_and_sourceless_events_get_their_own_lanes_and_long_fields_are_cut(uow_factory, clock):
    group = {"webhookEventId": "g", "type": "join", "source": {"type": "group", "groupId": "Cgroup", "userId": "U1"}}
    room = {"webhookEventId": "r", "type": "t" * 50, "source": {"type": "room", "roomId": "Rroom"}}
    _store(uow_factory, clock, group, room, {"webhookEventId": "n"}, _event("long", user="U" * 150))
    stored = _all(uow_factory)
    assert [e.lane for e in stored] == ["U1", "Rroom", "-", "U" * 100]
    assert [e.event_type for e in stored] == ["join", "t" * 40, "unknown", "message"]


def test_text_no_database_can_store_is_made_safe_everywhere_in_the_event(uow_factory, clock):
    body = _event("e1", message={"type": "text", "text": "a\x00b\ud83d", "tags": ["c\x00", {"k\x00": "\udc00"}]})
    _store(uow_factory, clock, body)
    (stored,) = _all(uow_factory)
    assert stored.body["message"] == {"type": "text", "text": "ab\ufffd", "tags": ["c", {"k": "\ufffd"}]}


def test_a_lane_is_leased_for_thirty_seconds_and_free_again_only_after_that(uow_factory, clock):
    with uow_factory() as uow:
        assert events.acquire_lane(uow=uow, lane="Ualice", owner="w1")
    assert _lease(uow_factory, "Ualice").leased_until == clock.now() + timedelta(seconds=30)
    start = clock.now()
    clock.set(start + timedelta(seconds=30))  # the lease's last instant
    with uow_factory() as uow:
        assert not events.acquire_lane(uow=uow, lane="Ualice", owner="w2")
    clock.set(start + timedelta(seconds=30, microseconds=1))
    with uow_factory() as uow:
        assert events.acquire_lane(uow=uow, lane="Ualice", owner="w2")
    assert _lease(uow_factory, "Ualice").lease_owner == "w2"


def test_renewing_extends_only_the_workers_own_leases_and_releasing_frees_only_its_own(uow_factory, clock):
    with uow_factory() as uow:
        events.acquire_lane(uow=uow, lane="Ualice", owner="w1")
        events.acquire_lane(uow=uow, lane="Ubob", owner="w2")
        events.acquire_lane(uow=uow, lane="Ucarol", owner="w1")
    clock.advance(seconds=20)
    with uow_factory() as uow:
        events.renew_lanes(uow=uow, lanes=["Ualice", "Ubob"], owner="w1")
        events.renew_lanes(uow=uow, lanes=[], owner="w2")
    assert _lease(uow_factory, "Ualice").leased_until == clock.now() + timedelta(seconds=30)
    assert _lease(uow_factory, "Ubob").leased_until == clock.now() + timedelta(seconds=10)
    with uow_factory() as uow:
        events.release_lane(uow=uow, lane="Ubob", owner="w1")  # not w1's: it stays w2's
        events.release_lane(uow=uow, lane="Ualice", owner="w1")
    assert _lease(uow_factory, "Ubob").lease_owner == "w2"
    assert _lease(uow_factory, "Ucarol").lease_owner == "w1"  # w1 released only the lane it named
    assert (_lease(uow_factory, "Ualice").lease_owner, _lease(uow_factory, "Ualice").leased_until) == (None, None)


def _ids(uow_factory):
    return {e.webhook_event_id: e.id for e in _all(uow_factory)}


def _fail_temporarily(uow_factory, event_id, error="connection lost"):
    with uow_factory() as uow:
        status = events.retry_later(uow=uow, event_id=event_id, error=error)
        uow.commit()
        return status


def test_a_temporary_error_holds_the_event_back_for_a_pause_that_doubles_up_to_a_minute(uow_factory, clock):
    _store(uow_factory, clock, _event("e1"))
    event_id = _ids(uow_factory)["e1"]
    pauses = []
    for _ in range(9):
        assert _fail_temporarily(uow_factory, event_id) == "pending"
        (event,) = _all(uow_factory)
        pauses.append((event.retry_at - clock.now()) / timedelta(seconds=1))
        clock.set(event.retry_at)
    for pause, base in zip(pauses, (1, 2, 4, 8, 16, 32, 60, 60, 60), strict=True):
        assert base <= pause <= base * 1.25
    assert event.attempts == 9 and event.last_error == "temporary: connection lost"
    _fail_temporarily(uow_factory, event_id, "x" * 5000)
    (event,) = _all(uow_factory)
    assert event.last_error == ("temporary: " + "x" * 5000)[:4000]


def test_an_event_is_given_up_exactly_one_hour_after_its_first_temporary_error(uow_factory, clock):
    _store(uow_factory, clock, _event("e1"))
    event_id = _ids(uow_factory)["e1"]
    first = clock.now()
    _fail_temporarily(uow_factory, event_id)
    clock.set(first + timedelta(hours=1) - timedelta(microseconds=1))
    assert _fail_temporarily(uow_factory, event_id) == "pending"
    clock.set(first + timedelta(hours=1))
    assert _fail_temporarily(uow_factory, event_id, "x" * 5000) == "failed"
    (event,) = _all(uow_factory)
    assert (event.status, event.processed_at, event.retry_at) == ("failed", clock.now(), None)
    assert event.last_error.startswith("gave up after 60 minutes of temporary database errors; last: xxx")
    assert len(event.last_error) == 4000
    assert _fail_temporarily(uow_factory, event_id) == "failed"  # a late report changes nothing
    assert _fail_temporarily(uow_factory, 999) == "skipped"


def test_nothing_overtakes_an_event_waiting_to_be_tried_again(uow_factory, clock):
    _store(uow_factory, clock, _event("e1"), _event("e2"), _event("b1", user="Ubob"))
    ids = _ids(uow_factory)
    _fail_temporarily(uow_factory, ids["e1"])
    (retry_at,) = [e.retry_at for e in _all(uow_factory) if e.webhook_event_id == "e1"]
    with uow_factory() as uow:
        assert events.pending_in_lane(uow=uow, lane="Ualice") == []
        assert not events.has_pending(uow=uow, lane="Ualice")
        assert events.pending_lanes(uow=uow) == ["Ubob"]
        assert not events.has_pending(uow=uow, lane="Unobody")
    clock.set(retry_at)  # due again at that very instant
    with uow_factory() as uow:
        assert events.pending_in_lane(uow=uow, lane="Ualice") == [(ids["e1"], "message"), (ids["e2"], "message")]
        assert events.pending_in_lane(uow=uow, lane="Ualice", limit=1) == [(ids["e1"], "message")]
        assert events.has_pending(uow=uow, lane="Ualice")
        assert events.pending_lanes(uow=uow) == ["Ualice", "Ubob"]
        assert events.pending_lanes(uow=uow, limit=1) == ["Ualice"]


def test_the_sweep_leaves_events_younger_than_asked_to_the_worker_that_got_them(uow_factory, clock):
    received = clock.now()
    _store(uow_factory, clock, _event("e1"))
    clock.set(received + timedelta(seconds=10))
    with uow_factory() as uow:
        assert events.pending_lanes(uow=uow, older_than=timedelta(seconds=10)) == ["Ualice"]
        assert events.pending_lanes(uow=uow, older_than=timedelta(seconds=10, microseconds=1)) == []
        assert events.oldest_pending(uow=uow) == received


def test_a_done_event_leaves_the_queue_with_its_errors_cleared(uow_factory, clock):
    _store(uow_factory, clock, _event("e1"), _event("e2"))
    ids = _ids(uow_factory)
    _fail_temporarily(uow_factory, ids["e1"])
    with uow_factory() as uow:
        clock.advance(minutes=5)
        events.mark_done(uow=uow, event=uow.session.get(WebhookEvent, ids["e1"]))
        uow.commit()
    with uow_factory() as uow:
        assert events.next_pending(uow=uow, lane="Ualice").id == ids["e2"]
        done = uow.session.get(WebhookEvent, ids["e1"])
        assert (done.status, done.attempts, done.processed_at) == ("done", 2, clock.now())
        assert (done.last_error, done.retry_at, done.failing_since) == (None, None, None)
        assert events.oldest_pending(uow=uow) is not None


def test_an_empty_backlog_counts_zero_everywhere(uow_factory):
    with uow_factory() as uow:
        assert events.backlog(uow=uow) == {"events_failed": 0, "outbox_pending": 0, "outbox_failed": 0}
        assert events.oldest_pending(uow=uow) is None


def test_a_failed_event_is_listed_newest_first_counted_and_runs_again_only_when_re_queued(uow_factory, clock):
    _store(uow_factory, clock, _event("e1"), _event("e2"), _event("e3"))
    ids = _ids(uow_factory)
    with uow_factory() as uow:
        events.mark_failed(uow=uow, event_id=ids["e1"], error="boom " * 1000)
        events.mark_failed(uow=uow, event_id=ids["e2"], error="bang")
        outbox.enqueue(uow=uow, address="Ualice", messages=[{"type": "text", "text": "hi"}], category="marketing")
        uow.commit()
    with uow_factory() as uow:
        failed = events.failed_events(uow=uow)
        assert [e.id for e in failed] == [ids["e2"], ids["e1"]]
        assert [e.id for e in events.failed_events(uow=uow, limit=1)] == [ids["e2"]]
        assert (len(failed[1].last_error), failed[1].attempts) == (4000, 1)
        assert events.backlog(uow=uow) == {"events_failed": 2, "outbox_pending": 1, "outbox_failed": 0}
        assert events.rerun(uow=uow, event_id=ids["e3"]) is None  # pending, not failed
        assert events.rerun(uow=uow, event_id=999) is None
        assert events.rerun(uow=uow, event_id=ids["e1"]).status == "pending"
        uow.commit()
    with uow_factory() as uow:
        assert [eid for eid, _ in events.pending_in_lane(uow=uow, lane="Ualice")] == [ids["e1"], ids["e3"]]


def test_an_unsent_message_loses_its_text_in_its_own_lane_only(uow_factory, clock):
    said = {"type": "text", "id": "m1", "text": "secret"}
    _store(
        uow_factory,
        clock,
        _event("e1", message=said),
        _event("e2", message={"type": "text", "id": "m2", "text": "keep"}),
        _event("b1", user="Ubob", message=said),
    )
    with uow_factory() as uow:
        assert events.forget_message(uow=uow, lane="Ualice", message_id="m1") == 1
        uow.commit()
    bodies = {e.webhook_event_id: e.body["message"] for e in _all(uow_factory)}
    assert bodies["e1"] == {"id": "m1", "type": "text", "unsent": True}
    assert bodies["e2"]["text"] == "keep" and bodies["b1"]["text"] == "secret"
