"""What an operator sees when events fail or the database goes away: statuses and log lines, never what was written."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

import pytest
from psycopg import errors as pg_errors
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot import handlers
from crm_core import events
from crm_core.models import WebhookEvent
from tests.conftest import PG_URL
from tests.integration.webhook.steps import post_event

pg_only = pytest.mark.skipif(not PG_URL, reason="terminates PostgreSQL connections")
GREETING = 2  # messages a new friend gets: the welcome and the privacy notice
SECRET_WORDS = "電話は 090-1234-5678"  # what a customer wrote: it must stay out of the logs


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


def _event(uow_factory) -> WebhookEvent:
    with uow_factory() as uow:
        return uow.session.exec(select(WebhookEvent)).one()


def _admin(database: str | None = None):
    """A connection to the test database, or (only to switch the test database's connections off and on) another."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


@contextmanager
def _database_away():
    """The test database refuses connections and has none open until the block ends."""
    with _admin() as admin, _admin("postgres") as maintenance:
        database = admin.execute("SELECT current_database()").fetchone()[0]
        maintenance.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            yield
        finally:
            maintenance.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')


def _wait_for(condition, *, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.01)
    return result


def _ours(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("bot") and r.levelno == level]


def test_a_handler_bug_fails_the_event_with_one_error_line_naming_it(
    store_only_client, line, user, services, uow_factory, monkeypatch, caplog
):
    """The error line is what an operator's alert sees; what the customer wrote is never in it."""

    def handle_postback_with_a_bug(ctx):
        raise KeyError(SECRET_WORDS)

    monkeypatch.setitem(handlers.HANDLERS, "postback", handle_postback_with_a_bug)
    post_event(store_only_client, line, line.postback(user, "action=consent&v=2026-11"))
    event_id = _event(uow_factory).id

    assert services.pump.processor.process(event_id) == "failed"

    assert _event(uow_factory).status == "failed"
    assert _ours(caplog, logging.ERROR) == [f"webhook event {event_id} (postback) failed: KeyError"]
    assert SECRET_WORDS not in caplog.text
    assert line.messages_to(user) == []


def test_temporary_database_errors_warn_at_each_try_and_one_error_line_when_the_event_gives_up(
    store_only_client, line, user, services, uow_factory, clock, monkeypatch, caplog
):
    """A connection terminated under the event (what PostgreSQL's restart does) names the driver's error."""
    terminated = pg_errors.AdminShutdown("terminating connection due to administrator command")

    def handle_follow_on_a_terminated_connection(ctx):
        raise OperationalError("UPDATE channel_identities", {}, terminated)

    monkeypatch.setitem(handlers.HANDLERS, "follow", handle_follow_on_a_terminated_connection)
    post_event(store_only_client, line, line.follow(user))
    event_id = _event(uow_factory).id

    assert services.pump.processor.process(event_id) == "pending"
    assert _ours(caplog, logging.WARNING) == [
        f"webhook event {event_id} (follow): temporary database error (AdminShutdown); trying it again shortly"
    ]
    assert _ours(caplog, logging.ERROR) == []

    tries = 1
    while (status := services.pump.processor.process(event_id)) == "pending":
        tries += 1
        assert tries < 200, "the event never gave up"  # about 60 tries in the hour it is given
        clock.set(_event(uow_factory).retry_at)

    assert status == "failed" and _event(uow_factory).status == "failed"
    assert len(_ours(caplog, logging.WARNING)) == tries + 1  # one a try, the last included
    assert _ours(caplog, logging.ERROR) == [
        f"webhook event {event_id} (follow) failed: temporary database errors went on too long"
    ]
    assert line.messages_to(user) == []


@pg_only
def test_a_connection_lost_while_recording_a_reply_logs_the_outage_and_the_lane_goes_on(
    store_only_client, line, user, services, uow_factory, clock, monkeypatch, caplog
):
    """LINE took the greeting, then the connection recording it was terminated: the lane's message is still answered."""
    answer = line.handle
    locked = []

    def answer_then_lock_the_outbox(method, path, **kwargs):
        response = answer(method, path, **kwargs)
        if path.endswith("/reply") and not locked:
            locked.append(True)  # the first reply only: the greeting
            locker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
        return response

    post_event(store_only_client, line, line.follow(user))
    post_event(store_only_client, line, line.text(user, "メニュー"))
    with _admin() as admin, _admin() as locker:
        locker.autocommit = False
        monkeypatch.setattr(line, "handle", answer_then_lock_the_outbox)
        services.pump.submit([user])
        blocked = _wait_for(
            lambda: admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchall(),
            what="recording the greeting to wait on the lock",
        )
        admin.execute("SELECT pg_terminate_backend(%s)", [blocked[0][0]])
        locker.rollback()
    assert services.pump.wait_idle()

    with uow_factory() as uow:
        statuses = uow.session.exec(select(WebhookEvent.status).order_by(WebhookEvent.id)).all()
    assert statuses == ["done", "done"]  # the message did not wait for the next sweep
    assert len(line.messages_to(user)) > GREETING  # the greeting, then the menu's answer
    outage = [m for m in _ours(caplog, logging.WARNING) if m.startswith("database unreachable")]
    assert outage == ["database unreachable (AdminShutdown); retrying quietly until it answers"]

    clock.advance(minutes=2)
    services.delivery.deliver_due()  # the greeting's row, never marked sent, is not sent again
    assert len([r for r in line.requests if r.path.endswith(("/reply", "/push"))]) == 2


def test_a_background_task_that_fails_leaves_a_traceback_for_the_operator(services, caplog):
    def deliver_with_a_bug():
        raise KeyError(SECRET_WORDS)

    services.pump.run_in_background(deliver_with_a_bug)
    assert services.pump.wait_idle()

    (record,) = [r for r in caplog.records if r.name.startswith("bot") and r.levelno == logging.ERROR]
    assert record.getMessage() == "background task failed; the scheduler will retry what it left"
    assert record.exc_info[0] is KeyError


@pg_only
def test_the_sweep_and_the_workers_report_an_outage_once_and_its_end(
    store_only_client, line, user, services, uow_factory, caplog
):
    """No worker process here: the scheduler's sweep and the web process's own workers are the only ones to notice."""
    caplog.set_level(logging.INFO)

    def said(words: str) -> int:
        return sum(words in message for message in _ours(caplog, logging.WARNING))

    with _database_away():
        assert services.pump.sweep() == 0
    assert (said("database unreachable"), said("database reachable again")) == (1, 0)
    post_event(store_only_client, line, line.follow(user))
    assert services.pump.sweep() == 1
    assert (said("database unreachable"), said("database reachable again")) == (1, 1)

    with _database_away():
        services.pump.submit([user])  # what the webhook hands its workers
        assert services.pump.wait_idle()
    assert (said("database unreachable"), said("database reachable again")) == (2, 1)
    assert services.pump.sweep() == 0
    assert (said("database unreachable"), said("database reachable again")) == (2, 2)
    assert [r for r in caplog.records if r.exc_info] == []  # no traceback for an outage


@pytest.mark.parametrize(
    "failure",
    [
        OperationalError("UPDATE event_lanes", {}, pg_errors.AdminShutdown("terminating connection")),
        KeyError("lanes"),
    ],
    ids=["database away", "a bug"],
)
def test_a_lease_renewal_that_fails_reports_the_outage_once_or_the_bug_with_its_traceback(
    store_only_client, line, user, services, uow_factory, monkeypatch, caplog, failure
):
    """The renewer's failures while an event is in hand: the event itself goes on and is answered."""
    tries = []
    three_tries = threading.Event()

    def renew_lanes_failing(**kwargs):
        tries.append(kwargs["lanes"])
        if len(tries) == 3:
            three_tries.set()
        raise failure

    handle_follow = handlers.HANDLERS["follow"]

    def handle_follow_while_the_renewals_fail(ctx):
        assert three_tries.wait(timeout=10), "the renewer never tried"
        handle_follow(ctx)

    monkeypatch.setattr(events, "renew_lanes", renew_lanes_failing)
    monkeypatch.setitem(handlers.HANDLERS, "follow", handle_follow_while_the_renewals_fail)
    services.pump.renew_every = 0.02
    post_event(store_only_client, line, line.follow(user))

    assert services.pump.drain(user) == 1

    assert tries[:3] == [[user]] * 3
    assert _event(uow_factory).status == "done"
    assert len(line.messages_to(user)) == GREETING
    ours = [r for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.WARNING]
    if isinstance(failure, OperationalError):  # one line for the outage, however many renewals failed
        assert [(r.getMessage(), r.exc_info) for r in ours] == [
            ("database unreachable (AdminShutdown); retrying quietly until it answers", None)
        ]
    else:
        assert {r.getMessage() for r in ours} == {"renewing event lane leases failed"}
        assert all(r.levelno == logging.ERROR and r.exc_info[0] is KeyError for r in ours)
