"""X-Line-Signature: the HMAC of the exact bytes LINE sent, compared whole. A forged webhook is never stored."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.simulator.events import signature
from bot.webhook import signature_matches
from crm_core.models import WebhookEvent
from tests.conftest import CHANNEL_SECRET


def _post(client, body: bytes, signed: str):
    return client.post("/callback", data=body, headers={"Content-Type": "application/json", "X-Line-Signature": signed})


def _stored(uow_factory) -> list[WebhookEvent]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(WebhookEvent)))


@pytest.fixture
def user(line):
    return line.add_user("山田 花子")


@pytest.mark.parametrize("keep", [1, 20, 43])  # a valid signature is 44 characters of base64
def test_a_truncated_signature_is_refused_and_nothing_is_stored(client, line, user, uow_factory, keep):
    body = line.webhook_body([line.text(user, "ポイント")])
    valid = signature(body, channel_secret=CHANNEL_SECRET)
    assert len(valid) == 44
    response = _post(client, body, valid[:keep])
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_signature"
    assert _stored(uow_factory) == []


def test_a_signature_with_characters_added_is_refused(client, line, user, uow_factory):
    body = line.webhook_body([line.text(user, "ポイント")])
    response = _post(client, body, signature(body, channel_secret=CHANNEL_SECRET) + "A")
    assert response.status_code == 400
    assert _stored(uow_factory) == []


@pytest.mark.parametrize("padding", [b"\n", b" ", b"\r\n\t "])
def test_whitespace_added_after_signing_is_refused(client, line, user, uow_factory, padding):
    """The signature covers every byte: a body padded in transit is not the body LINE signed."""
    body = line.webhook_body([line.text(user, "ポイント")])
    signed = signature(body, channel_secret=CHANNEL_SECRET)
    assert _post(client, padding + body, signed).status_code == 400
    assert _post(client, body + padding, signed).status_code == 400
    assert _stored(uow_factory) == []


def test_a_body_line_signed_with_its_surrounding_whitespace_is_taken(client, line, user, uow_factory, settle):
    """LINE signs the raw bytes it sends, whitespace included: such a delivery is genuine and is answered."""
    body = b"\n  " + line.webhook_body([line.follow(user)]) + b"\n"
    response = _post(client, body, signature(body, channel_secret=CHANNEL_SECRET))
    assert response.status_code == 200
    settle()
    assert [event.status for event in _stored(uow_factory)] == ["done"]
    assert line.messages_to(user)  # the new friend was greeted


def test_a_refused_signature_is_logged_for_the_operator_without_the_body_or_the_signature(
    client, line, user, uow_factory, caplog
):
    """A forged webhook, or a channel secret set wrong, shows in the log; what was posted does not."""
    body = line.webhook_body([line.text(user, "ポイント")])
    forged = signature(body, channel_secret="not-the-channel-secret")
    assert _post(client, body, forged).status_code == 400
    refusals = [record for record in caplog.records if record.name == "bot.webhook"]
    assert [(record.levelname, record.getMessage()) for record in refusals] == [
        ("WARNING", "webhook refused: bad or missing signature")
    ]
    assert forged not in caplog.text and user not in caplog.text and CHANNEL_SECRET not in caplog.text


def test_without_a_channel_secret_nothing_is_taken_not_even_a_body_signed_with_an_empty_key():
    # create_app refuses to start without the secret; the check must not rely on that alone
    body = b'{"destination": "U0", "events": []}'
    forged = signature(body, channel_secret="")
    assert not signature_matches("", body, forged)
    assert signature_matches(CHANNEL_SECRET, body, signature(body, channel_secret=CHANNEL_SECRET))
