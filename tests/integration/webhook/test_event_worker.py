"""Production split: web workers only store events; the event worker (scheduler process) processes them."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from bot.event_pump import EventWorker
from bot.simulator.events import signature
from crm_core.models import WebhookEvent
from tests.conftest import CHANNEL_SECRET, PG_URL


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
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)


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


@pytest.mark.skipif(not PG_URL, reason="LISTEN/NOTIFY is PostgreSQL's")
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
