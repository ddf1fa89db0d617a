"""Steps the event pump's tests share: post a signed webhook event, read the stored events' statuses."""

from __future__ import annotations

from sqlmodel import select

from bot.simulator.events import signature
from crm_core.models import WebhookEvent
from tests.conftest import CHANNEL_SECRET


def post_event(client, line, event: dict) -> None:
    """POST /callback with one event, signed as LINE signs it; the webhook must answer 200."""
    body = line.webhook_body([event])
    headers = {"X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    assert client.post("/callback", data=body, headers=headers).status_code == 200


def event_statuses(uow_factory) -> list[str]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent.status).order_by(WebhookEvent.id)))
