"""Signed bodies of the wrong shape, and texts PostgreSQL would refuse: a 4xx or a safe answer, never a 500.

A wrong-shaped body cannot be one LINE built, so it is refused whole with 400 and nothing is stored:
LINE counts a 4xx as an error (shown in the console's webhook statistics) and a redelivery of the same
body gets the same answer, so no event is ever left failed or pending because of its shape.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.simulator.events import signature
from crm_core.models import TimelineEntry, WebhookEvent
from tests.conftest import CHANNEL_SECRET


def _post(client, body: bytes):
    headers = {"Content-Type": "application/json", "X-Line-Signature": signature(body, channel_secret=CHANNEL_SECRET)}
    return client.post("/callback", data=body, headers=headers)


def _stored(uow_factory) -> list[WebhookEvent]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


def _broken(event: dict, how: str) -> dict:
    event = json.loads(json.dumps(event))
    match how:
        case "string source":
            event["source"] = event["source"]["userId"]
        case "numeric userId":
            event["source"]["userId"] = 12345
        case "no type":
            del event["type"]
        case "numeric type":
            event["type"] = 7
        case "list message":
            event["message"] = ["hello"]
        case "numeric text":
            event["message"]["text"] = 42
        case "numeric event id":
            event["webhookEventId"] = 1
        case "string timestamp":
            event["timestamp"] = "yesterday"
        case "numeric mode":
            event["mode"] = 1
        case "boolean timestamp":
            event["timestamp"] = True  # JSON true is not a number of milliseconds
    return event


SHAPES = [
    "string source", "numeric userId", "no type", "numeric type", "list message",
    "numeric text", "numeric event id", "string timestamp", "numeric mode", "boolean timestamp",
]  # fmt: skip


@pytest.mark.parametrize("how", SHAPES)
def test_a_signed_event_of_the_wrong_shape_is_refused_with_400(client, line, user, uow_factory, how):
    body = line.webhook_body([_broken(line.text(user, "ポイント"), how)])
    response = _post(client, body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_body"
    assert _stored(uow_factory) == []


@pytest.mark.parametrize(
    "payload",
    [{"destination": "U0", "events": {"type": "message"}}, {"events": ["message"]}, {"events": None}],
)
def test_events_that_are_not_a_list_of_objects_are_refused(client, uow_factory, payload):
    response = _post(client, json.dumps(payload).encode())
    assert response.status_code == 400
    assert _stored(uow_factory) == []


def test_unknown_event_types_and_properties_are_accepted(client, line, user, uow_factory, settle):
    """LINE adds event types and properties over time: a bot must take them, not refuse them."""
    event = line.text(user, "ポイント")
    event["type"] = "somethingNew"
    event["somethingNew"] = {"anything": [1, 2, 3]}
    event["source"]["newKey"] = 5
    assert _post(client, line.webhook_body([event])).status_code == 200
    settle()
    assert [e.status for e in _stored(uow_factory)] == ["done"]


@pytest.mark.parametrize(
    ("raw", "kept"),
    [("営業\\u0000時間", "営業時間"), ("a\\ud800b", "a\ufffdb"), ("\\udfff", "\ufffd"), ("😀\\u0000", "😀")],
)
def test_nul_and_lone_surrogates_are_stored_safely_and_answered(client, line, user, uow_factory, settle, raw, kept):
    event = line.text(user, "PLACEHOLDER")
    body = line.webhook_body([event]).replace(b"PLACEHOLDER", raw.encode())
    before = len(line.messages_to(user))
    assert _post(client, body).status_code == 200
    settle()
    (stored,) = _stored(uow_factory)
    assert stored.status == "done"
    assert stored.body["message"]["text"] == kept
    with uow_factory() as uow:
        entry = uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "message_in")).one()
        assert entry.summary == kept
    assert len(line.messages_to(user)) == before + 1  # the customer got an answer
