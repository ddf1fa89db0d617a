"""Database faults while LINE events arrive: nothing lost, nothing doubled, nothing out of order.

The PostgreSQL tests terminate real connections with `pg_terminate_backend` (only on the test
database, never their own) or refuse new ones for a moment (`ALLOW_CONNECTIONS false`).
"""

from __future__ import annotations

import logging
import time

import pytest
from sqlmodel import select

from bot.event_pump import EventWorker
from bot.simulator.events import signature
from crm_core import events, heartbeats
from crm_core.models import OutboxMessage, WebhookEvent
from tests.conftest import CHANNEL_SECRET, PG_URL

pg_only = pytest.mark.skipif(not PG_URL, reason="terminates PostgreSQL connections")
GREETING = 2  # messages a new friend gets: the welcome and the privacy notice


def _post(client, line, line_events):
    body = line.webhook_body(line_events)
    return client.post(
        "/callback", data=body, headers={"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    )


def _admin(database: str | None = None):
    """A connection to the test database, or (only to switch the test database's connections off and on) another."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _terminate_others(admin) -> int:
    """End every other connection to the test database (the app's pool, its workers, their LISTEN)."""
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return len(rows)


def _wait_for(condition, *, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.01)
    return result


def _statuses(uow_factory) -> list[tuple[str, str, int]]:
    with uow_factory() as uow:
        rows = uow.session.exec(select(WebhookEvent).order_by(WebhookEvent.id)).all()
        return [(row.webhook_event_id, row.status, row.attempts) for row in rows]


def _run_everything_due(services, clock, uow_factory, *, timeout: float = 30.0) -> None:
    """Let time pass and run the sweep and the outbox until no event waits (what the scheduler does)."""
    deadline = time.monotonic() + timeout
    while any(status == "pending" for _, status, _ in _statuses(uow_factory)):
        assert time.monotonic() < deadline, "webhook events still pending"
        clock.advance(minutes=2)
        services.pump.sweep()
    clock.advance(minutes=2)
    services.delivery.deliver_due()


@pg_only
def test_a_connection_lost_mid_event_leaves_it_pending_and_nothing_overtakes_it(
    store_only_client, line, services, uow_factory, clock
):
    user = line.add_user("山田 花子")
    follow, text = line.follow(user), line.text(user, "ポイント")
    assert _post(store_only_client, line, [follow]).status_code == 200
    assert _post(store_only_client, line, [text]).status_code == 200
    with _admin() as admin, _admin() as locker:
        locker.autocommit = False
        locker.execute("LOCK TABLE channel_identities IN ACCESS EXCLUSIVE MODE")
        services.pump.submit([user])
        blocked = _wait_for(
            lambda: admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchall(),
            what="the event's transaction to wait on the lock",
        )
        admin.execute("SELECT pg_terminate_backend(%s)", [blocked[0][0]])
        locker.rollback()
    assert services.pump.wait_idle()

    follow_id, text_id = follow["webhookEventId"], text["webhookEventId"]
    assert _statuses(uow_factory) == [(follow_id, "pending", 1), (text_id, "pending", 0)]
    assert services.pump.sweep() == 0, "the later event must not overtake the one waiting to be retried"
    assert line.messages_to(user) == []

    clock.advance(seconds=2)
    assert services.pump.sweep() == 2
    assert _statuses(uow_factory) == [(follow_id, "done", 2), (text_id, "done", 1)]
    with uow_factory() as uow:
        keys = uow.session.exec(select(OutboxMessage.dedupe_key).order_by(OutboxMessage.id)).all()
    assert list(dict.fromkeys(key.split(":")[1].split("#")[0] for key in keys)) == [follow_id, text_id]
    assert len(line.messages_to(user)) > GREETING


@pg_only
def test_connections_terminated_during_a_burst_lose_and_double_no_greeting(client, line, services, uow_factory, clock):
    users = [line.add_user(f"友だち {n}") for n in range(30)]
    answers = []
    with _admin() as admin:
        for n, user in enumerate(users):
            answers.append(_post(client, line, [line.follow(user)]).status_code)
            if n % 5 == 2:
                _terminate_others(admin)  # the web request's pooled connection and the workers' in flight
    assert answers == [200] * len(users)
    assert services.pump.wait_idle(timeout=30)
    _run_everything_due(services, clock, uow_factory)

    assert {status for _, status, _ in _statuses(uow_factory)} == {"done"}
    with uow_factory() as uow:
        assert max(uow.session.exec(select(WebhookEvent.attempts))) <= 2
    for user in users:
        sent = [(item["via"], item["message"]) for item in line.transcript(user) if item["from"] == "bot"]
        # exactly once: a reply whose row could not be marked sent is never pushed again (the outbox records
        # each try before it leaves and treats an unconfirmed reply with a stale token as delivered)
        assert len(sent) == GREETING and len({via for via, _ in sent}) == 1, "greeted once, in one answer"


@pg_only
def test_the_first_requests_after_the_database_restarted_answer_normally(client, line, services, settle):
    with services.uow_factory() as uow:  # a scheduler reports, so /healthz is about the database alone
        heartbeats.beat(uow=uow, helper=heartbeats.SCHEDULER, host="helper-host", pid=4242, started_at=uow.now())
        uow.commit()
    connections = [services.engine.connect() for _ in range(3)]  # a pool full of connections
    for connection in connections:
        connection.exec_driver_sql("SELECT 1")
    for connection in connections:
        connection.close()
    with _admin() as admin:
        assert _terminate_others(admin) >= 3

    user = line.add_user("山田 花子")
    assert _post(client, line, [line.follow(user)]).status_code == 200
    assert client.get("/healthz").status_code == 200
    settle()
    assert len(line.messages_to(user)) == GREETING


@pg_only
@pytest.mark.parametrize("listens", [True, False], ids=["listening", "polling"])
def test_an_outage_logs_one_line_when_it_starts_and_one_when_it_ends(
    store_only_client, line, services, uow_factory, settings, caplog, listens
):
    """Polling, only the worker's passes notice the outage (listening, its LISTEN connection notices it too)."""
    caplog.set_level(logging.INFO)
    database_url = settings.database_url if listens else "sqlite://"  # a URL that cannot LISTEN: it polls
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=database_url, poll=0.02)
    worker.start()
    try:
        with _admin() as admin, _admin("postgres") as maintenance:
            database = admin.execute("SELECT current_database()").fetchone()[0]
            try:
                maintenance.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
                _terminate_others(admin)
                _wait_for(lambda: "database unreachable" in caplog.text, what="the outage to be noticed")
                time.sleep(0.5)  # some 25 passes of the worker against a database that refuses connections
                assert services.pump.sweep() == 0  # the scheduler's `webhook.sweep` job: quiet too
            finally:
                maintenance.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        user = line.add_user("山田 花子")
        assert _post(store_only_client, line, [line.follow(user)]).status_code == 200
        _wait_for(lambda: len(line.messages_to(user)) == GREETING, what="the event after the outage")
    finally:
        worker.stop()

    ours = [record for record in caplog.records if record.name.startswith(("bot", "crm_core", "kizuna"))]
    assert [record.exc_info for record in ours if record.exc_info] == [], "no tracebacks for an outage"
    assert [r.getMessage() for r in ours if r.levelno >= logging.ERROR] == []
    assert sum("database unreachable" in r.getMessage() for r in ours) == 1
    assert sum("database reachable again" in r.getMessage() for r in ours) == 1


@pg_only
def test_the_event_worker_listens_again_after_its_connection_was_terminated(
    store_only_client, line, services, uow_factory, settings, caplog
):
    def listening() -> set[int]:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            [f"LISTEN {events.NOTIFY_CHANNEL}"],
        ).fetchall()
        return {pid for (pid,) in rows}

    # polling every 60 s: only a NOTIFY can wake the worker within the test's deadline
    worker = EventWorker(pump=services.pump, uow_factory=uow_factory, database_url=settings.database_url, poll=60)
    with _admin() as admin:
        worker.start()
        try:
            first = _wait_for(listening, what="the worker to LISTEN")
            _terminate_others(admin)
            _wait_for(lambda: listening() - first, what="the worker to LISTEN again")
            user = line.add_user("山田 花子")
            assert _post(store_only_client, line, [line.follow(user)]).status_code == 200
            _wait_for(lambda: len(line.messages_to(user)) == GREETING, timeout=5, what="NOTIFY to wake the worker")
        finally:
            worker.stop()
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("lost the LISTEN")]
    assert lost == ["lost the LISTEN connection (OperationalError); opening it again"]


def test_an_event_failing_on_the_database_for_an_hour_fails_with_the_reason(
    store_only_client, line, services, uow_factory, clock
):
    user = line.add_user("山田 花子")
    follow = line.follow(user)
    assert _post(store_only_client, line, [follow]).status_code == 200
    with uow_factory() as uow:
        event_id = uow.session.exec(select(WebhookEvent.id)).one()
    pauses = []
    for _ in range(200):
        with uow_factory() as uow:
            status = events.retry_later(uow=uow, event_id=event_id, error="OperationalError at db.py:1 in connect")
            uow.commit()
            event = uow.session.get(WebhookEvent, event_id)
            retry_at, last_error = event.retry_at, event.last_error
        if status == "failed":
            break
        pauses.append((retry_at - clock.now()).total_seconds())
        clock.set(retry_at)
    assert status == "failed"
    assert last_error.startswith("gave up after 6") and "minutes of temporary database errors" in last_error
    assert 1 <= pauses[0] <= 1.25 and pauses[1] >= 2 and max(pauses) <= 75, "backoff grows, capped at a minute"
    assert services.pump.sweep() == 0
    assert line.messages_to(user) == []
