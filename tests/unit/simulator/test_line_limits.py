"""The emulator refuses what LINE refuses beyond its OpenAPI schema: lengths, counts and Flex sizes."""

from __future__ import annotations

import json

import pytest

from bot.simulator.limits import json_size
from tests.unit.simulator.conftest import CHANNEL_ACCESS_TOKEN


def postback(label: str = "OK", data: str = "action=menu") -> dict:
    return {"type": "postback", "label": label, "data": data}


def buttons(text: str = "本文", *, title: str | None = None, actions: int = 1, label: str = "OK") -> dict:
    template = {"type": "buttons", "text": text, "actions": [postback(label) for _ in range(actions)]}
    if title is not None:
        template["title"] = title
    return {"type": "template", "altText": "alt", "template": template}


def column(text: str = "本文", *, title: str | None = None, actions: int = 1) -> dict:
    column = {"text": text, "actions": [postback() for _ in range(actions)]}
    if title is not None:
        column["title"] = title
    return column


def carousel(*columns: dict) -> dict:
    return {"type": "template", "altText": "alt", "template": {"type": "carousel", "columns": list(columns)}}


def quick_reply(count: int = 1, label: str = "OK") -> dict:
    items = [{"type": "action", "action": {"type": "message", "label": label, "text": "x"}} for _ in range(count)]
    return {"type": "text", "text": "どれにしますか", "quickReply": {"items": items}}


def bubble(rows: int = 1, text: str = "行") -> dict:
    contents = [{"type": "text", "text": text} for _ in range(rows)]
    return {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": contents}}


def flex(contents: dict) -> dict:
    return {"type": "flex", "altText": "alt", "contents": contents}


def bubble_of_size(size: int) -> dict:
    """A bubble whose compact JSON is exactly `size` bytes."""
    made = bubble(1, "")
    padding = size - json_size(made)
    made["body"]["contents"][0]["text"] = "x" * padding
    assert json_size(made) == size
    return made


ACCEPTED = {
    "quick reply: 13 items, labels of 20": [quick_reply(13, "あ" * 20)],
    "buttons: text of 160": [buttons("あ" * 160)],
    "buttons: title 40, text 60": [buttons("あ" * 60, title="い" * 40)],
    "buttons: 4 actions, labels of 20": [buttons(actions=4, label="う" * 20)],
    "carousel: 10 columns of 3 actions, text 120": [carousel(*[column("あ" * 120, actions=3)] * 10)],
    "carousel: title 40, text 60": [carousel(column("あ" * 60, title="い" * 40))],
    "flex bubble of 30 KB": [flex(bubble_of_size(30_000))],
    "flex carousel: 12 bubbles, 50 KB": [flex({"type": "carousel", "contents": [bubble_of_size(4_000)] * 12})],
    "five messages": [{"type": "text", "text": "あ" * 5000}] * 5,
    "postback data of 300": [buttons() | {"template": buttons()["template"] | {"actions": [postback(data="d" * 300)]}}],
}
REFUSED = {
    "quick reply: a label of 21": ([quick_reply(1, "あ" * 21)], "messages[0].quickReply.items[0].action.label"),
    "buttons: text of 161": ([buttons("あ" * 161)], "messages[0].template.text"),
    "buttons: text of 61 with a title": ([buttons("あ" * 61, title="見出し")], "messages[0].template.text"),
    "buttons: title of 41": ([buttons(title="い" * 41)], "messages[0].template.title"),
    "buttons: 5 actions": ([buttons(actions=5)], "messages[0].template.actions"),
    "buttons: a label of 21": ([buttons(label="う" * 21)], "messages[0].template.actions[0].label"),
    "carousel: 11 columns": ([carousel(*[column()] * 11)], "messages[0].template.columns"),
    "carousel: text of 121": ([carousel(column("あ" * 121))], "messages[0].template.columns[0].text"),
    "carousel: 4 actions": ([carousel(column(actions=4))], "messages[0].template.columns[0].actions"),
    "carousel: uneven actions": ([carousel(column(actions=1), column(actions=2))], "messages[0].template.columns"),
    "flex bubble over 30 KB": ([flex(bubble_of_size(30_001))], "messages[0].contents"),
    "flex carousel of 13 bubbles": (
        [flex({"type": "carousel", "contents": [bubble()] * 13})],
        "messages[0].contents.contents",
    ),
    "flex carousel over 50 KB": (
        [flex({"type": "carousel", "contents": [bubble_of_size(25_000)] * 3})],
        "messages[0].contents",
    ),
    "flex button label of 41": (
        [
            flex(
                bubble()
                | {
                    "footer": {
                        "type": "box",
                        "layout": "vertical",
                        "contents": [{"type": "button", "action": postback("え" * 41)}],
                    }
                }
            )
        ],  # fmt: skip
        "messages[0].contents.footer.contents[0].action.label",
    ),
    "postback data of 301": (
        [buttons() | {"template": buttons()["template"] | {"actions": [postback(data="d" * 301)]}}],
        "messages[0].template.actions[0].data",
    ),
}


def _push(emulator, messages: list[dict]):
    friend = emulator.add_user("花子")
    emulator.follow(friend)
    body = json.dumps({"to": friend, "messages": messages}, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {CHANNEL_ACCESS_TOKEN}", "Content-Type": "application/json"}
    return emulator.handle("POST", "/v2/bot/message/push", headers=headers, body=body)


@pytest.mark.parametrize("case", ACCEPTED)
def test_messages_at_the_limits_are_accepted(emulator, case):
    response = _push(emulator, ACCEPTED[case])
    assert response.status == 200, response.body
    assert emulator.invalid_requests == []


@pytest.mark.parametrize("case", REFUSED)
def test_messages_over_a_limit_are_refused_like_line(emulator, case):
    messages, where = REFUSED[case]
    response = _push(emulator, messages)
    assert response.status == 400
    assert response.body["message"].startswith("The request body has ")
    assert where in [detail["property"] for detail in response.body["details"]]
    assert emulator.invalid_requests and emulator.dropped_messages == []


def test_six_messages_are_refused(emulator):
    assert _push(emulator, [{"type": "text", "text": "x"}] * 6).status == 400
