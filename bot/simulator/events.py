"""Webhook event objects exactly as the LINE Platform sends them (see line-openapi/webhook.yml)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Iterable


def event_base(
    *, event_type: str, line_user_id: str, timestamp_ms: int, webhook_event_id: str, mode: str = "active"
) -> dict:
    """Return the properties every one-to-one chat event carries."""
    return {
        "type": event_type,
        "mode": mode,
        "timestamp": timestamp_ms,
        "source": {"type": "user", "userId": line_user_id},
        "webhookEventId": webhook_event_id,
        "deliveryContext": {"isRedelivery": False},
    }


def as_redelivery(events: Iterable[dict]) -> list[dict]:
    """Return copies of ``events`` marked as redelivered (same webhookEventId)."""
    redelivered = []
    for event in events:
        event = copy.deepcopy(event)
        event["deliveryContext"] = {"isRedelivery": True}
        redelivered.append(event)
    return redelivered


def webhook_body(events: Iterable[dict], *, destination: str) -> bytes:
    """Return the webhook request body: compact UTF-8 JSON, as LINE posts it."""
    payload = {"destination": destination, "events": list(events)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(body: bytes, *, channel_secret: str) -> str:
    """Return the X-Line-Signature value: base64 of HMAC-SHA256(channel secret, body)."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
