"""POST /callback when the connection storing the events is lost: stored on a fresh one, and processed at once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import select

from bot.simulator.events import signature
from crm_core.models import WebhookEvent
from tests.conftest import CHANNEL_SECRET, PG_URL

GREETING = 2  # messages a new friend gets: the welcome and the privacy notice


def _admin():
    """A connection of our own to the test database (never the app's)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _wait_for(condition, *, timeout: float = 10.0, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.01)
    return result


@pytest.mark.skipif(not PG_URL, reason="terminates a PostgreSQL connection")
def test_events_stored_after_a_lost_connection_are_processed_without_waiting_for_the_sweep(
    client, line, services, uow_factory, settle, caplog
):
    user = line.add_user("山田 花子")
    body = line.webhook_body([line.follow(user)])
    headers = {"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    answers = []
    with _admin() as admin, _admin() as locker:
        locker.autocommit = False
        locker.execute("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE")
        request = threading.Thread(
            target=lambda: answers.append(client.post("/callback", data=body, headers=headers).status_code)
        )
        request.start()
        storing = _wait_for(
            lambda: admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchall(),
            what="the webhook's INSERT to wait on the lock",
        )
        admin.execute("SELECT pg_terminate_backend(%s)", [storing[0][0]])  # the database restarted, say
        locker.rollback()
        request.join(timeout=30)

    assert answers == [200]  # stored on the second try: LINE need not redeliver
    # the operator sees why the database was asked twice (the error's kind, never the events)
    retries = [record.getMessage() for record in caplog.records if record.name == "bot.webhook"]
    assert retries == ["storing webhook events failed (OperationalError); trying once more"]
    settle()  # no sweep runs here: only the webhook's hand-off can have started the work
    assert len(line.messages_to(user)) == GREETING
    with uow_factory() as uow:
        assert uow.session.exec(select(WebhookEvent.status)).all() == ["done"]
