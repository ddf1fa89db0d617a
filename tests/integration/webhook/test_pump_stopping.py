"""A stopping pump (SIGTERM, `kizuna serve` shutting down): what its drains and sweeps say they did."""

from __future__ import annotations

import pytest

from bot import handlers
from tests.integration.webhook.steps import event_statuses, post_event

GREETING = 2  # messages a new friend gets: the welcome and the privacy notice


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


def test_a_drain_stopped_with_an_event_in_hand_counts_that_event_and_leaves_the_rest(
    store_only_client, line, user, services, uow_factory, monkeypatch
):
    handle_follow = handlers.HANDLERS["follow"]

    def handle_follow_as_the_stop_comes(ctx):
        services.pump.stop()
        handle_follow(ctx)

    monkeypatch.setitem(handlers.HANDLERS, "follow", handle_follow_as_the_stop_comes)
    post_event(store_only_client, line, line.follow(user))
    post_event(store_only_client, line, line.text(user, "メニュー"))

    assert services.pump.drain(user) == 1

    assert event_statuses(uow_factory) == ["done", "pending"]  # the message waits for the next process
    assert len(line.messages_to(user)) == GREETING


def test_the_sweep_of_a_stopping_process_takes_nothing_and_says_so(
    store_only_client, line, user, services, uow_factory
):
    """The scheduler's `webhook.sweep` job may fire while the process shuts down."""
    post_event(store_only_client, line, line.follow(user))
    services.pump.stop()

    assert services.pump.sweep() == 0

    assert event_statuses(uow_factory) == ["pending"]
    assert line.messages_to(user) == []
