"""End-to-end helpers: talk to the app as LINE does, read what the app sent LINE."""

from __future__ import annotations

import pytest


class Chat:
    """One LINE user talking to the app through the emulator over real HTTP."""

    def __init__(self, line, settle, name: str, language: str):
        self.line = line
        self.settle = settle
        self.line_user_id = line.add_user(name, language=language)
        self._seen = 0

    def _send(self, event) -> list[dict]:
        assert self.line.deliver([event]) == 200
        self.settle()
        return self.new_messages()

    def new_messages(self) -> list[dict]:
        messages = self.line.messages_to(self.line_user_id)
        fresh, self._seen = messages[self._seen :], len(messages)
        return fresh

    def follow(self, *, unblocked: bool = False) -> list[dict]:
        return self._send(self.line.follow(self.line_user_id, is_unblocked=unblocked))

    def unfollow(self) -> list[dict]:
        return self._send(self.line.unfollow(self.line_user_id))

    def say(self, text: str) -> list[dict]:
        return self._send(self.line.text(self.line_user_id, text))

    def tap(self, data: str, **params: str) -> list[dict]:
        """Tap a postback button; `params` are what a picker adds (`date="2026-11-23"` for a date picker)."""
        return self._send(self.line.postback(self.line_user_id, data, params=params or None))


def texts(messages: list[dict]) -> str:
    """Everything a person would read in these messages, flattened to one string."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("text", "altText", "label", "title"):
                if isinstance(node.get(key), str):
                    out.append(node[key])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    return "\n".join(out)


def postback_data(messages: list[dict]) -> list[str]:
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "postback" and "data" in node:
                found.append(node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(messages)
    return found


@pytest.fixture
def chat(live_app, line, settle):
    """A factory: `chat("山田 花子")` is a new LINE user, Japanese unless told otherwise."""

    def make(name: str = "山田 花子", language: str = "ja") -> Chat:
        return Chat(line, settle, name, language)

    return make
