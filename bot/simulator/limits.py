"""LINE's documented limits on messages that its OpenAPI document does not express.

Character counts, the number of actions and columns a template takes, and the size of Flex JSON
(developers.line.biz, Messaging API reference: "Quick reply", "Template messages", "Flex Message").
LINE answers a request that breaks one with 400 "The request body has N error(s)", as for a schema error.

A Flex container's size is counted on its compact UTF-8 JSON; LINE does not say how it counts, so a
kilobyte here is 1,000 bytes, to err on the side LINE surely accepts.
"""

from __future__ import annotations

import json
from typing import Any

from bot.simulator.openapi import SchemaProblem

MAX_MESSAGES = 5
MAX_TEXT = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL = 20  # actions in templates and quick replies
MAX_IMAGE_CAROUSEL_LABEL = 12
MAX_FLEX_LABEL = 40  # a Flex button shows up to 40 characters
MAX_POSTBACK_DATA = 300
MAX_DISPLAY_TEXT = 300
MAX_TITLE = 40
MAX_BUTTONS_TEXT, MAX_BUTTONS_TEXT_WITH_TITLE = 160, 60
MAX_BUTTONS_ACTIONS = 4
MAX_CONFIRM_TEXT = 240
MAX_COLUMNS = 10
MAX_COLUMN_TEXT, MAX_COLUMN_TEXT_WITH_TITLE = 120, 60
MAX_COLUMN_ACTIONS = 3
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BUBBLES = 12
MAX_CAROUSEL_BYTES = 50_000


def json_size(value: Any) -> int:
    """Bytes of the compact UTF-8 JSON of `value`."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


class _Checker:
    def __init__(self) -> None:
        self.problems: list[SchemaProblem] = []

    def at_most(self, where: str, value: Any, limit: int, what: str = "characters") -> None:
        if isinstance(value, str | list) and len(value) > limit:
            self.problems.append(SchemaProblem(where, f"must be at most {limit} {what} (has {len(value)})"))

    def action(self, where: str, action: Any, *, label: int) -> None:
        if not isinstance(action, dict):
            return
        self.at_most(f"{where}.label", action.get("label"), label)
        if action.get("type") == "postback":
            self.at_most(f"{where}.data", action.get("data"), MAX_POSTBACK_DATA)
            self.at_most(f"{where}.displayText", action.get("displayText"), MAX_DISPLAY_TEXT)

    def actions(self, where: str, actions: Any, *, most: int, label: int = MAX_LABEL) -> None:
        if not isinstance(actions, list):
            return
        self.at_most(f"{where}.actions", actions, most, "actions")
        for index, action in enumerate(actions):
            self.action(f"{where}.actions[{index}]", action, label=label)

    def message(self, where: str, message: Any) -> None:
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind in ("text", "textV2"):
            self.at_most(f"{where}.text", message.get("text"), MAX_TEXT)
        elif kind == "template":
            self.template(f"{where}.template", message.get("template"))
        elif kind == "flex":
            self.flex(f"{where}.contents", message.get("contents"))
        quick_reply = message.get("quickReply")
        if isinstance(quick_reply, dict) and isinstance(quick_reply.get("items"), list):
            items = quick_reply["items"]
            self.at_most(f"{where}.quickReply.items", items, MAX_QUICK_REPLY_ITEMS, "items")
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    self.action(f"{where}.quickReply.items[{index}].action", item.get("action"), label=MAX_LABEL)

    def template(self, where: str, template: Any) -> None:
        if not isinstance(template, dict):
            return
        kind = template.get("type")
        if kind == "buttons":
            headed = bool(template.get("title") or template.get("thumbnailImageUrl"))
            self.at_most(f"{where}.title", template.get("title"), MAX_TITLE)
            limit = MAX_BUTTONS_TEXT_WITH_TITLE if headed else MAX_BUTTONS_TEXT
            self.at_most(f"{where}.text", template.get("text"), limit)
            self.actions(where, template.get("actions"), most=MAX_BUTTONS_ACTIONS)
            self.action(f"{where}.defaultAction", template.get("defaultAction"), label=MAX_LABEL)
        elif kind == "confirm":
            self.at_most(f"{where}.text", template.get("text"), MAX_CONFIRM_TEXT)
            self.actions(where, template.get("actions"), most=2)
        elif kind in ("carousel", "image_carousel"):
            columns = template.get("columns")
            if not isinstance(columns, list):
                return
            self.at_most(f"{where}.columns", columns, MAX_COLUMNS, "columns")
            counts = set()
            for index, column in enumerate(columns):
                if not isinstance(column, dict):
                    continue
                here = f"{where}.columns[{index}]"
                if kind == "image_carousel":
                    self.action(f"{here}.action", column.get("action"), label=MAX_IMAGE_CAROUSEL_LABEL)
                    continue
                headed = bool(column.get("title") or column.get("thumbnailImageUrl"))
                self.at_most(f"{here}.title", column.get("title"), MAX_TITLE)
                limit = MAX_COLUMN_TEXT_WITH_TITLE if headed else MAX_COLUMN_TEXT
                self.at_most(f"{here}.text", column.get("text"), limit)
                self.actions(here, column.get("actions"), most=MAX_COLUMN_ACTIONS)
                self.action(f"{here}.defaultAction", column.get("defaultAction"), label=MAX_LABEL)
                counts.add(len(column.get("actions") or []))
            if len(counts) > 1:
                self.problems.append(SchemaProblem(f"{where}.columns", "every column must have as many actions"))

    def flex(self, where: str, container: Any) -> None:
        if not isinstance(container, dict):
            return
        if container.get("type") == "carousel" and isinstance(container.get("contents"), list):
            bubbles = container["contents"]
            self.at_most(f"{where}.contents", bubbles, MAX_CAROUSEL_BUBBLES, "bubbles")
            self.size(where, container, MAX_CAROUSEL_BYTES)
            for index, bubble in enumerate(bubbles):
                self.bubble(f"{where}.contents[{index}]", bubble)
        elif container.get("type") == "bubble":
            self.bubble(where, container)

    def bubble(self, where: str, bubble: Any) -> None:
        self.size(where, bubble, MAX_BUBBLE_BYTES)
        self.flex_actions(where, bubble)

    def flex_actions(self, where: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "action":
                    self.action(f"{where}.action", value, label=MAX_FLEX_LABEL)
                else:
                    self.flex_actions(f"{where}.{key}", value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self.flex_actions(f"{where}[{index}]", value)

    def size(self, where: str, value: Any, limit: int) -> None:
        size = json_size(value)
        if size > limit:
            message = f"must be at most {limit // 1000} KB of JSON (has {size:,} bytes)"
            self.problems.append(SchemaProblem(where, message))


def limit_problems(payload: Any) -> list[SchemaProblem]:
    """What LINE would refuse in a send request's `messages` beyond its OpenAPI schema."""
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        return []
    checker = _Checker()
    checker.at_most("messages", payload["messages"], MAX_MESSAGES, "messages")
    for index, message in enumerate(payload["messages"]):
        checker.message(f"messages[{index}]", message)
    return checker.problems
