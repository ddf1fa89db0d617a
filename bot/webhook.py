"""POST /callback: verify the signature, store the events once, answer 200, work afterwards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from crm_core import events
from crm_core.db import is_transient

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


# What Kizuna reads of an event, with the type each must have when present (LINE may add more properties
# and event types at any time: those are accepted). `type` is required.
_NUMBER = (int, float)
EVENT_SHAPE: dict[str, type | tuple | dict] = {
    "type": str,
    "mode": str,
    "webhookEventId": str,
    "replyToken": str,
    "timestamp": _NUMBER,
    "source": {"type": str, "userId": str, "groupId": str, "roomId": str},
    "deliveryContext": {"isRedelivery": bool},
    "message": {"type": str, "id": str, "text": str, "quoteToken": str},
    "postback": {"data": str, "params": dict},
    "follow": {"isUnblocked": bool},
    "link": {"result": str, "nonce": str},
    "unsend": {"messageId": str},
}


def _fits(value, shape) -> bool:
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(_fits(value[key], shape[key]) for key in shape.keys() & value.keys())
    if isinstance(value, bool) and shape is not bool:
        # mutation-equivalent: `return None` here (its callers, two all()s, read only truthiness)
        return False  # JSON true is not a number
    return isinstance(value, shape)


def _events_of(body: bytes) -> list[dict] | None:
    """The events of a LINE webhook body, or None when it is not one.

    A signed body of the wrong shape (a string `source`, a numeric `userId`, no `type`) cannot be one
    LINE built: it is refused whole with 400 and nothing is stored. LINE counts a 4xx as a failed
    delivery (shown in the console's webhook error statistics), and a redelivery of the same body gets
    the same answer, so no event is ever left failed or pending because of its shape.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return None
    if not all(_fits(event, EVENT_SHAPE) and "type" in event for event in payload["events"]):
        return None
    return payload["events"]


@bp.post("/callback")
def callback():
    """Receive LINE webhook events."""
    kizuna = current_app.extensions["kizuna"]
    body = request.get_data()
    signature = request.headers.get("X-Line-Signature", "")
    if not signature_matches(kizuna.settings.line_channel_secret, body, signature):
        log.warning("webhook refused: bad or missing signature")
        return _error(400, "bad_signature", "X-Line-Signature does not match the body.")
    received = _events_of(body)
    if received is None:
        return _error(400, "bad_body", "The body is not a LINE webhook payload.")
    lanes = _store(kizuna, received)
    if lanes and kizuna.process_events:
        kizuna.pump.submit(lanes)
    return Response(b"{}", mimetype="application/json")


def _store(kizuna, received: list[dict]) -> list[str]:
    """Store the events; once more on a fresh connection when the first one was lost (a database restart).

    Storing is idempotent (by webhookEventId), so trying again cannot store anything twice; a second
    failure answers 500 and LINE redelivers.
    """
    try:
        with kizuna.uow_factory.transaction() as connection:
            return events.store_events(connection=connection, events=received, now=kizuna.uow_factory.clock.now())
    except SQLAlchemyError as error:
        if not is_transient(error):
            raise
        log.warning("storing webhook events failed (%s); trying once more", type(error).__name__)
    with kizuna.uow_factory.transaction() as connection:
        events.store_events(connection=connection, events=received, now=kizuna.uow_factory.clock.now())
    # the first try may have committed before its answer was lost: hand every lane on (draining is idempotent)
    return list(dict.fromkeys(events.lane_of(event) for event in received))


def signature_matches(channel_secret: str, body: bytes, signature: str) -> bool:
    """HMAC-SHA256 of the raw body with the channel secret, compared in constant time."""
    # create_app refuses an empty channel secret; were one used, a body "signed" with an empty key would pass
    if not signature or not channel_secret:
        return False  # mutation-equivalent: `return None` (its one caller reads only truthiness)
    expected = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
