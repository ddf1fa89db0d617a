"""The event pump's own bookkeeping: waiting for its workers, and a shutdown that leaves no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from tests.integration.webhook.steps import event_statuses, post_event


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


@pytest.mark.parametrize("hand_over", ["submit", "sweep_in_background"])
def test_waiting_for_the_workers_ends_when_their_work_does_not_at_the_timeout(
    store_only_client, line, user, services, uow_factory, hand_over
):
    """Tests, the event worker's passes and a stopping process all wait like this: a minute would stall them."""
    post_event(store_only_client, line, line.follow(user))
    started = time.monotonic()
    if hand_over == "submit":
        services.pump.submit([user])
    else:
        services.pump.sweep_in_background()  # what start-up does for what a previous process left

    assert services.pump.wait_idle(timeout=60)

    assert time.monotonic() - started < 30  # processing one follow takes well under a second
    assert event_statuses(uow_factory) == ["done"]


def test_shutdown_ends_the_lease_renewer_at_once(store_only_client, line, user, services):
    post_event(store_only_client, line, line.follow(user))
    assert services.pump.drain(user) == 1  # holding a lane started the renewer
    started = time.monotonic()

    services.pump.shutdown()

    assert time.monotonic() - started < 5  # not the 10 s it would wait for a renewer that did not hear
    assert [t for t in threading.enumerate() if t.name == "kizuna-event-leases" and t.is_alive()] == []
