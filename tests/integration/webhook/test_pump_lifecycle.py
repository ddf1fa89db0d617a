"""The event pump's own bookkeeping: waiting for its workers, and a shutdown that leaves no thread behind."""

from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import select

from bot.simulator.events import signature
from crm_core.models import WebhookEvent
from tests.conftest import CHANNEL_SECRET


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


def _post(client, line, event: dict) -> None:
    body = line.webhook_body([event])
    headers = {"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    assert client.post("/callback", data=body, headers=headers).status_code == 200


def _statuses(uow_factory) -> list[str]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent.status).order_by(WebhookEvent.id)))


@pytest.mark.parametrize("hand_over", ["submit", "sweep_in_background"])
def test_waiting_for_the_workers_ends_when_their_work_does_not_at_the_timeout(
    store_only_client, line, user, services, uow_factory, hand_over
):
    """Tests, the event worker's passes and a stopping process all wait like this: a minute would stall them."""
    _post(store_only_client, line, line.follow(user))
    started = time.monotonic()
    if hand_over == "submit":
        services.pump.submit([user])
    else:
        services.pump.sweep_in_background()  # what start-up does for what a previous process left

    assert services.pump.wait_idle(timeout=60)

    assert time.monotonic() - started < 30  # processing one follow takes well under a second
    assert _statuses(uow_factory) == ["done"]


def test_shutdown_ends_the_lease_renewer_at_once(store_only_client, line, user, services):
    _post(store_only_client, line, line.follow(user))
    assert services.pump.drain(user) == 1  # holding a lane started the renewer
    started = time.monotonic()

    services.pump.shutdown()

    assert time.monotonic() - started < 5  # not the 10 s it would wait for a renewer that did not hear
    assert [t for t in threading.enumerate() if t.name == "kizuna-event-leases" and t.is_alive()] == []
