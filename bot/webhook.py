"""POST /callback: verify the signature, store the events once, answer 200, work afterwards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from flask import Blueprint, Response, current_app, jsonify, request

from crm_core import events

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


def _events_of(body: bytes) -> list[dict] | None:
    """The events of a LINE webhook body, or None when it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return None
    if not all(isinstance(event, dict) and isinstance(event.get("type"), str) for event in payload["events"]):
        return None
    return payload["events"]


@bp.post("/callback")
def callback():
    """Receive LINE webhook events."""
    kizuna = current_app.extensions["kizuna"]
    body = request.get_data(cache=False)
    signature = request.headers.get("X-Line-Signature", "")
    if not signature_matches(kizuna.settings.line_channel_secret, body, signature):
        log.warning("webhook refused: bad or missing signature")
        return _error(400, "bad_signature", "X-Line-Signature does not match the body.")
    received = _events_of(body)
    if received is None:
        return _error(400, "bad_body", "The body is not a LINE webhook payload.")
    with kizuna.uow_factory.transaction() as connection:
        lanes = events.store_events(connection=connection, events=received, now=kizuna.uow_factory.clock.now())
    if lanes and kizuna.process_events:
        kizuna.pump.submit(lanes)
    return Response(b"{}", mimetype="application/json")


def signature_matches(channel_secret: str, body: bytes, signature: str) -> bool:
    """HMAC-SHA256 of the raw body with the channel secret, compared in constant time."""
    if not signature or not channel_secret:
        return False
    expected = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
