"""Production split: web workers only store events; the event worker (scheduler process) processes them."""

from __future__ import annotations

import builtins
import logging
import threading
import time

import pytest
from sqlmodel import select

from bot import handlers
from bot.event_pump import EventWorker
from bot.simulator.events import signature
from crm_core import events
from crm_core.models import WebhookEvent
from tests.conftest import CHANNEL_SECRET, PG_URL

pg_only = pytest.mark.skipif(not PG_URL, reason="LISTEN/NOTIFY is PostgreSQL's")


def _post(client, line, events):
    body = line.webhook_body(events)
    return client.post(
        "/callback", data=body, headers={"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    )


def _statuses(uow_factory) -> list[str]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent.status).order_by(WebhookEvent.id)))


def _wait_for(condition, *, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)
    return result


def test_store_only_web_process_leaves_the_work_to_the_event_worker(
    store_only_client, line, services, uow_factory, settings
):
    user = line.add_user("山田 花子")
    assert _post(store_only_client, line, [line.follow(user)]).status_code == 200
    services.pump.wait_idle()
    with uow_factory() as uow:
        assert uow.session.exec(select(WebhookEvent.status)).all() == ["pending"]
    assert line.messages_to(user) == []
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=settings.database_url)
    worker.drain_once()
    with uow_factory() as uow:
        assert uow.session.exec(select(WebhookEvent.status)).all() == ["done"]
    assert len(line.messages_to(user)) == 2


@pg_only
def test_storing_an_event_wakes_the_worker_through_notify(store_only_client, line, services, uow_factory, settings):
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=settings.database_url)
    listener = worker._listener()
    assert listener is not None
    try:
        user = line.add_user("山田 花子")
        _post(store_only_client, line, [line.follow(user)])
        woke = [n.channel for n in listener.notifies(timeout=10, stop_after=1)]
        assert woke == ["kizuna_events"]
    finally:
        listener.close()


def test_the_running_event_worker_answers_each_event_soon_after_it_is_stored(
    store_only_client, line, services, uow_factory, settings
):
    """Polling on SQLite; on PostgreSQL woken by NOTIFY (a minute's poll would fail the test): no timeout waited."""
    poll = 60.0 if PG_URL else 0.05
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=settings.database_url, poll=poll)
    user = line.add_user("山田 花子")
    worker.start()
    try:
        _post(store_only_client, line, [line.follow(user)])
        _wait_for(lambda: _statuses(uow_factory) == ["done"], what="the follow to be processed")
        assert services.pump.wait_idle()  # its lane let go: the worker waits for the next event
        _post(store_only_client, line, [line.text(user, "メニュー")])
        _wait_for(lambda: _statuses(uow_factory) == ["done", "done"], what="the message to be processed")
    finally:
        worker.stop()
    assert len(line.messages_to(user)) > 2  # the greeting, then the menu's answer


def _listening() -> list[int]:
    """The process ids of the test database's connections that LISTEN for new events."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s ORDER BY pid",
            [f"LISTEN {events.NOTIFY_CHANNEL}"],
        ).fetchall()
    return [pid for (pid,) in rows]


def _worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kizuna-event-worker" and t.is_alive()]


def _count_passes(monkeypatch) -> list[float]:
    """When each of the worker's passes began (each asks which lanes wait)."""
    passes, pending_lanes = [], events.pending_lanes

    def pending_lanes_noted(**kwargs):
        passes.append(time.monotonic())
        return pending_lanes(**kwargs)

    monkeypatch.setattr(events, "pending_lanes", pending_lanes_noted)
    return passes


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("listens", [pytest.param(True, marks=pg_only), False], ids=["listening", "polling"])
def test_an_idle_event_worker_passes_once_a_poll_without_spinning_and_stops_at_once(
    services, uow_factory, settings, monkeypatch, caplog, listens
):
    """A worker waits between passes (a busy loop would take a core), on one LISTEN connection kept open."""
    database_url = settings.database_url if listens else "sqlite://"  # a URL that cannot LISTEN: it polls
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=database_url, poll=0.2)
    passes = _count_passes(monkeypatch)
    worker.start()
    try:
        _wait_for(lambda: len(passes) >= 2, what="two passes")
        listening = _listening() if listens else []
        assert len(listening) == int(listens)
        _wait_for(lambda: len(passes) >= 6, what="six passes")
        if listens:
            assert _listening() == listening  # the same connection: not one more each pass
    finally:
        started = time.monotonic()
        worker.stop()
    assert time.monotonic() - started < 10  # not the 30 s stop() gives a worker that did not hear
    assert _worker_threads() == []
    gaps = [later - earlier for earlier, later in zip(passes[:5], passes[1:6], strict=True)]
    # waiting a poll between passes (a spinning loop's gaps are ~0), not far longer (a loaded machine may add some)
    assert all(0.15 < gap < 5 for gap in gaps), gaps
    assert _warnings(caplog) == []
    if listens:
        _wait_for(lambda: _listening() == [], timeout=5, what="the LISTEN connection to be closed")


def test_stopping_the_event_worker_finishes_the_event_in_hand_leaves_the_rest_and_ends_it(
    store_only_client, line, services, uow_factory, settings, monkeypatch
):
    """What `kizuna scheduler` and `kizuna events work` do on SIGTERM: the next message waits for the next process."""
    handle_follow, in_hand = handlers.HANDLERS["follow"], threading.Event()

    def handle_follow_and_tell(ctx):
        in_hand.set()
        handle_follow(ctx)

    monkeypatch.setitem(handlers.HANDLERS, "follow", handle_follow_and_tell)
    user = line.add_user("山田 花子")
    _post(store_only_client, line, [line.follow(user), line.text(user, "メニュー")])
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=settings.database_url, poll=60)
    line.latency_seconds = 1.0  # the greeting's reply: the event is still in hand when the stop comes
    try:
        worker.start()
        assert in_hand.wait(timeout=20)
        started = time.monotonic()
        worker.stop()
        assert time.monotonic() - started < 10
    finally:
        line.latency_seconds = 0.0
    assert _statuses(uow_factory) == ["done", "pending"]
    assert len(line.messages_to(user)) == 2  # the greeting
    assert _worker_threads() == []


def test_without_psycopg_the_worker_says_once_that_it_polls(services, uow_factory, monkeypatch, caplog):
    load = builtins.__import__

    def load_without_psycopg(name, globals=None, *args, **kwargs):  # the worker's `import psycopg` fails
        if name == "psycopg" and (globals or {}).get("__name__") == "bot.event_pump":
            raise ImportError("No module named 'psycopg'")
        return load(name, globals, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", load_without_psycopg)
    worker = EventWorker(
        pump=services.pump, uow_factory=uow_factory, database_url="postgresql://kizuna@db.invalid/kizuna", poll=0.05
    )
    passes = _count_passes(monkeypatch)
    worker.start()
    try:
        _wait_for(lambda: len(passes) >= 3, what="three passes")
    finally:
        worker.stop()
    assert _warnings(caplog) == ["cannot LISTEN for new events (no psycopg); polling every 0.05 s"]


def test_a_worker_that_cannot_reach_the_database_to_listen_reports_the_outage_and_polls(
    store_only_client, line, services, uow_factory, caplog
):
    worker = EventWorker(
        pump=services.pump, uow_factory=uow_factory, database_url="postgresql://kizuna@127.0.0.1:1/kizuna", poll=0.05
    )
    user = line.add_user("山田 花子")
    worker.start()
    try:
        _post(store_only_client, line, [line.follow(user)])
        _wait_for(lambda: _statuses(uow_factory) == ["done"], what="the follow to be processed")
    finally:
        worker.stop()
    assert _warnings(caplog)[0] == "database unreachable (OperationalError); retrying quietly until it answers"


def test_the_worker_listens_with_the_password_of_the_database_url(services, uow_factory, monkeypatch):
    """The test database trusts every local connection: what reaches the driver is read instead."""
    import psycopg

    tried, connect = [], psycopg.connect

    def connect_noted(conninfo, **kwargs):
        tried.append(conninfo)
        return connect(conninfo, **kwargs)

    monkeypatch.setattr(psycopg, "connect", connect_noted)
    worker = EventWorker(
        pump=services.pump, uow_factory=uow_factory, database_url="postgresql://kizuna:s3cret@127.0.0.1:1/kizuna"
    )

    assert worker._listener() is None  # nothing answers on port 1

    assert tried == ["postgresql://kizuna:s3cret@127.0.0.1:1/kizuna"]


@pg_only
def test_a_connection_lost_before_it_listens_is_reported_as_an_outage(
    services, uow_factory, settings, monkeypatch, caplog
):
    """The database restarting between the worker's connect and its LISTEN: it polls, and says why."""
    import psycopg

    connect = psycopg.connect

    def connect_and_lose_it(conninfo, **kwargs):
        connection = connect(conninfo, **kwargs)
        with connect(conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [connection.info.backend_pid])
        return connection

    monkeypatch.setattr(psycopg, "connect", connect_and_lose_it)
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=settings.database_url)

    assert worker._listener() is None

    (warning,) = _warnings(caplog)
    assert warning.startswith("database unreachable (") and warning.endswith("); retrying quietly until it answers")


def test_a_worker_pass_that_meets_a_bug_leaves_a_traceback_and_the_next_pass_goes_on(
    store_only_client, line, services, uow_factory, monkeypatch, caplog
):
    passes, pending_lanes = [], events.pending_lanes

    def pending_lanes_with_a_bug_once(**kwargs):
        passes.append(time.monotonic())
        if len(passes) == 1:
            raise KeyError("lanes")
        return pending_lanes(**kwargs)

    monkeypatch.setattr(events, "pending_lanes", pending_lanes_with_a_bug_once)
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url="sqlite://", poll=0.05)
    user = line.add_user("山田 花子")
    worker.start()
    try:
        _post(store_only_client, line, [line.follow(user)])
        _wait_for(lambda: _statuses(uow_factory) == ["done"], what="the follow to be processed")
    finally:
        worker.stop()
    (record,) = [r for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.WARNING]
    assert (record.getMessage(), record.levelno) == ("event worker pass failed; trying again", logging.ERROR)
    assert record.exc_info[0] is KeyError  # a bug, not an outage: no "database unreachable"
