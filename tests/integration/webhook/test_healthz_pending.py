"""/healthz reports how long the oldest LINE event has waited, and 503 when nothing processes them."""

from __future__ import annotations

from bot.simulator.events import signature
from crm_core import heartbeats
from tests.conftest import CHANNEL_SECRET


def _scheduler_reports(services) -> None:
    """A scheduler somewhere says it is alive now (/healthz wants one), so only the events are in question."""
    with services.uow_factory() as uow:
        heartbeats.beat(uow=uow, helper=heartbeats.SCHEDULER, host="helper-host", pid=4242, started_at=uow.now())
        uow.commit()


def _post(client, line, line_events):
    body = line.webhook_body(line_events)
    response = client.post(
        "/callback", data=body, headers={"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    )
    assert response.status_code == 200


def test_healthz_reports_the_oldest_pending_event_and_503_when_nothing_processes_them(
    store_only_client, line, services, clock
):
    user = line.add_user("山田 花子")
    _post(store_only_client, line, [line.follow(user)])
    clock.advance(seconds=42)
    _post(store_only_client, line, [line.text(user, "ポイント")])

    _scheduler_reports(services)
    response = store_only_client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["oldest_pending_seconds"] == 42

    clock.advance(minutes=5)
    _scheduler_reports(services)  # the scheduler reports, yet nothing processes the events
    response = store_only_client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["oldest_pending_seconds"] == 342
    assert "event workers" in response.json["reason"]

    assert services.pump.sweep() == 2
    assert store_only_client.get("/healthz").json["oldest_pending_seconds"] == 0
