"""/healthz reports how long the oldest LINE event has waited, and 503 when nothing processes them."""

from __future__ import annotations

import pytest

from bot.app import create_app
from bot.simulator.events import signature
from tests.conftest import CHANNEL_SECRET


@pytest.fixture
def store_only_client(settings, services):
    app = create_app(settings, services=services, process_events=False)
    return app.test_client()


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

    response = store_only_client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "oldest_pending_seconds": 42}

    clock.advance(minutes=5)
    response = store_only_client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["oldest_pending_seconds"] == 342
    assert "event workers" in response.json["reason"]

    assert services.pump.sweep() == 2
    assert store_only_client.get("/healthz").json == {"status": "ok", "oldest_pending_seconds": 0}
