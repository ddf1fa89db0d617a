import pytest

from bot.simulator.openapi import line_openapi

REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"


def push(*messages: dict) -> dict:
    return {"to": "U" + "0" * 32, "messages": list(messages)}


def chip(label: str) -> dict:
    return {"type": "action", "action": {"type": "message", "label": label, "text": label}}


def bubble(*components: dict) -> dict:
    return {
        "type": "flex",
        "altText": "card",
        "contents": {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": list(components)}},
    }


def test_valid_text_message_passes():
    body = {"replyToken": "abc", "messages": [{"type": "text", "text": "こんにちは"}]}
    assert line_openapi().errors_for_request("POST", REPLY, body) == []


def test_valid_flex_bubble_with_quick_replies_passes():
    message = bubble(
        {"type": "text", "text": "1,234 pt", "weight": "bold"},
        {"type": "separator"},
        {"type": "button", "style": "primary", "action": {"type": "postback", "label": "Use", "data": "use"}},
    )
    message["quickReply"] = {"items": [chip("メニュー"), chip("ポイント")]}
    assert line_openapi().errors_for_request("POST", PUSH, push(message)) == []


def test_text_message_without_text_fails():
    errors = line_openapi().errors_for_request("POST", PUSH, push({"type": "text"}))
    assert errors == ["messages[0]: 'text' is a required property"]


def test_flex_bubble_with_an_unknown_component_fails():
    errors = line_openapi().errors_for_request("POST", PUSH, push(bubble({"type": "txt", "text": "x"})))
    assert len(errors) == 1
    assert errors[0].startswith("messages[0].contents.body.contents[0].type: unknown type 'txt'")


def test_flex_button_without_its_action_fails():
    errors = line_openapi().errors_for_request("POST", PUSH, push(bubble({"type": "button", "style": "link"})))
    assert errors == ["messages[0].contents.body.contents[0]: 'action' is a required property"]


def test_flex_uri_action_without_uri_fails():
    button = {"type": "button", "action": {"type": "uri", "label": "Web"}}
    errors = line_openapi().errors_for_request("POST", PUSH, push(bubble(button)))
    assert errors == ["messages[0].contents.body.contents[0].action: 'uri' is a required property"]


def test_more_than_13_quick_replies_fail():
    message = {"type": "text", "text": "pick", "quickReply": {"items": [chip(str(i)) for i in range(14)]}}
    errors = line_openapi().errors_for_request("POST", PUSH, push(message))
    assert errors == ["messages[0].quickReply.items: must have at most 13 items (has 14)"]


def test_unknown_message_type_fails():
    errors = line_openapi().errors_for_request("POST", PUSH, push({"type": "txt", "text": "x"}))
    assert len(errors) == 1
    assert "unknown type 'txt'" in errors[0]
    assert "text" in errors[0] and "flex" in errors[0]


@pytest.mark.parametrize("count", [0, 6])
def test_one_to_five_messages(count: int):
    errors = line_openapi().errors_for_request("POST", PUSH, push(*[{"type": "text", "text": "x"}] * count))
    assert len(errors) == 1 and errors[0].startswith("messages: must have")


def test_path_templates_match_concrete_paths():
    api = line_openapi()
    assert api.path_template("/v2/bot/user/U123/linkToken") == "/v2/bot/user/{userId}/linkToken"
    assert api.path_template("/v2/bot/message/reply") == "/v2/bot/message/reply"
    assert api.errors_for_request("POST", "/v2/bot/user/U123/linkToken", None) == []
    assert api.errors_for_request("POST", "/v2/bot/nope", {}) != []


def test_webhook_body_validation_reports_a_missing_reply_token():
    event = {
        "type": "follow",
        "mode": "active",
        "timestamp": 1,
        "source": {"type": "user", "userId": "U" + "0" * 32},
        "webhookEventId": "01" * 13,
        "deliveryContext": {"isRedelivery": False},
        "follow": {"isUnblocked": False},
    }
    errors = line_openapi().errors_for_webhook({"destination": "U" + "1" * 32, "events": [event]})
    assert errors == ["events[0]: 'replyToken' is a required property"]
