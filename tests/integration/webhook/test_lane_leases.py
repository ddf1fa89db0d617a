"""Lane leases: short, renewed while a worker works, free again soon after its process died, released on SIGTERM.

The workers here are real processes (`python -m bot.cli events work` / `scheduler`) on the test's
database (a SQLite file, or PostgreSQL); the LINE emulator answers slowly so they hold a lane.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot import handlers
from bot.event_pump import EventPump
from bot.simulator.events import signature
from crm_core import events
from crm_core.models import EventLane, WebhookEvent
from tests.conftest import ACCESS_TOKEN, CHANNEL_SECRET

GREETING = 2  # messages a new friend gets: the welcome and the privacy notice


@pytest.fixture
def slow_line(line):
    """The emulator answering every call after `line.latency_seconds` (set by the test)."""
    yield line
    line.latency_seconds = 0.0


def _post(client, line, line_events):
    body = line.webhook_body(line_events)
    response = client.post(
        "/callback", data=body, headers={"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    )
    assert response.status_code == 200


def _wait_for(condition, *, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)
    return result


def _lane(uow_factory, lane: str) -> EventLane | None:
    with uow_factory() as uow:
        return uow.session.get(EventLane, lane)


def _held_by(uow_factory, lane: str, pid: int) -> bool:
    row = _lane(uow_factory, lane)
    return row is not None and f":{pid}:" in (row.lease_owner or "")


def _statuses(uow_factory) -> list[str]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent.status).order_by(WebhookEvent.id)))


def _start(settings, line, tmp_path, *command: str) -> subprocess.Popen:
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("KIZUNA_", "LINE_"))},
        "KIZUNA_DATABASE_URL": settings.database_url,
        "KIZUNA_SECRET_KEY": settings.secret_key,
        "KIZUNA_PUBLIC_URL": settings.public_url,
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": line.base_url,
    }
    with (tmp_path / "worker.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def test_a_lane_held_by_a_killed_worker_is_taken_over_within_the_lease(
    store_only_client, slow_line, services, uow_factory, settings, clock, tmp_path
):
    user = slow_line.add_user("山田 花子")
    _post(store_only_client, slow_line, [slow_line.follow(user)])
    slow_line.latency_seconds = 5.0  # the worker asks LINE for the profile and waits, holding the lane
    worker = _start(settings, slow_line, tmp_path, "events", "work")
    try:
        _wait_for(lambda: _held_by(uow_factory, user, worker.pid), what="the worker to lease the lane")
    finally:
        worker.kill()
        worker.wait(timeout=10)
    slow_line.latency_seconds = 0.0
    assert _statuses(uow_factory) == ["pending"]

    # half a minute later, the lease the dead process took has run out (not ten minutes later)
    clock.set(datetime.now(UTC) + timedelta(seconds=31))
    assert services.pump.drain(user) == 1
    assert _statuses(uow_factory) == ["done"]
    assert len(slow_line.messages_to(user)) == GREETING


@pytest.mark.parametrize("command", [("scheduler",), ("events", "work")])
def test_sigterm_finishes_the_event_in_hand_and_releases_the_lane(
    store_only_client, slow_line, services, uow_factory, settings, tmp_path, command
):
    user = slow_line.add_user("山田 花子")
    _post(store_only_client, slow_line, [slow_line.follow(user)])
    slow_line.latency_seconds = 3.0
    worker = _start(settings, slow_line, tmp_path, *command)
    try:
        _wait_for(lambda: _held_by(uow_factory, user, worker.pid), what="the worker to lease the lane")
        time.sleep(1.0)  # well inside the 3 s profile call it makes right after taking the lane: the event is in hand
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert _statuses(uow_factory) == ["done"]
    assert len(slow_line.messages_to(user)) == GREETING
    lane = _lane(uow_factory, user)
    assert (lane.lease_owner, lane.leased_until) == (None, None)


def test_a_worker_keeps_renewing_its_lease_so_nobody_takes_the_lane_while_it_works(
    store_only_client, slow_line, services, uow_factory, clock
):
    user = slow_line.add_user("山田 花子")
    _post(store_only_client, slow_line, [slow_line.follow(user)])
    services.pump.renew_every = 0.02
    slow_line.latency_seconds = 3.0
    working = threading.Thread(target=services.pump.drain, args=(user,))
    working.start()
    try:
        _wait_for(lambda: _lane(uow_factory, user) is not None, what="the lane to be leased")
        for _ in range(3):  # 90 s in all: three leases' worth
            moved_to = clock.advance(seconds=events.LEASE.total_seconds())
            _wait_for(lambda t=moved_to: _lane(uow_factory, user).leased_until > t, what="the lease to be renewed")
        other = EventPump(uow_factory=uow_factory, processor=services.pump.processor, workers=4)
        assert other.drain(user) == 0, "another worker must not take a lane whose worker is still at it"
    finally:
        slow_line.latency_seconds = 0.0
        working.join(timeout=10)
    assert _statuses(uow_factory) == ["done"]
    assert len(slow_line.messages_to(user)) == GREETING


def test_a_worker_renews_only_the_leases_of_lanes_still_in_hand(
    store_only_client, slow_line, services, uow_factory, monkeypatch
):
    """A lane let go is not renewed every few seconds for ever after (one more lane per customer who wrote)."""
    finished, busy = slow_line.add_user("山田 花子"), slow_line.add_user("佐藤 健")
    services.pump.renew_every = 0.02
    _post(store_only_client, slow_line, [slow_line.follow(finished)])
    assert services.pump.drain(finished) == 1
    renew, renewed = events.renew_lanes, []

    def renew_and_note(*, lanes, **kwargs):
        renewed.append(sorted(lanes))
        renew(lanes=lanes, **kwargs)

    monkeypatch.setattr(events, "renew_lanes", renew_and_note)
    _post(store_only_client, slow_line, [slow_line.follow(busy)])
    slow_line.latency_seconds = 1.0
    working = threading.Thread(target=services.pump.drain, args=(busy,))
    working.start()
    try:
        _wait_for(lambda: len(renewed) >= 3, what="the busy lane's lease to be renewed")
    finally:
        slow_line.latency_seconds = 0.0
        working.join(timeout=10)
    assert renewed[:3] == [[busy]] * 3
    assert _statuses(uow_factory) == ["done", "done"]


def test_shutdown_finishes_the_event_in_hand_releases_the_lane_and_takes_no_more(
    store_only_client, slow_line, services, uow_factory, monkeypatch
):
    """What a SIGTERM does to a web process that processes events itself (`kizuna serve` without a worker)."""
    handle_follow, in_hand = handlers.HANDLERS["follow"], threading.Event()

    def handle_follow_and_tell(ctx):
        in_hand.set()
        handle_follow(ctx)

    monkeypatch.setitem(handlers.HANDLERS, "follow", handle_follow_and_tell)
    user = slow_line.add_user("山田 花子")
    _post(store_only_client, slow_line, [slow_line.follow(user), slow_line.text(user, "メニュー")])
    slow_line.latency_seconds = 1.0  # the greeting's reply: the event is still in hand when the stop comes
    services.pump.submit([user])
    assert in_hand.wait(timeout=20)

    services.pump.shutdown()

    slow_line.latency_seconds = 0.0
    assert _statuses(uow_factory) == ["done", "pending"]  # the message waits for the next process
    lane = _lane(uow_factory, user)
    assert (lane.lease_owner, lane.leased_until) == (None, None)
    assert len(slow_line.messages_to(user)) == GREETING
