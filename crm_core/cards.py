"""Signed, short-lived codes: the point card's QR code and the till's scan ticket.

A code carries a purpose, the customer id and an expiry, signed with HMAC-SHA256 (a key derived
from KIZUNA_SECRET_KEY per purpose), in base32 so it fits a QR code's alphanumeric mode and a
handheld scanner can type it. A code for one purpose is refused for any other, a changed character
breaks the signature, and an expired code is refused: a screenshot sent to a friend is useless
after a few minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta

from crm_core.errors import ExpiredCardToken, InvalidCardToken

CARD = "point-card"
TILL = "till-ticket"
TILL_CARD = "till-ticket-card"  # a till ticket opened by scanning the card itself: the customer may pay with points
COUPON = "coupon"  # a coupon opened in LINE: bound to the customer's coupon (its id)
CARD_LIFETIME = timedelta(minutes=5)
TILL_LIFETIME = timedelta(minutes=15)
_PREFIX = {CARD: "KZC", TILL: "KZT", TILL_CARD: "KZV", COUPON: "KZQ"}
_SHORT_LIVED = (CARD, COUPON)  # shown on a phone at the till: a screenshot is useless minutes later
_MAC_BYTES = 12
_LAYOUT = struct.Struct(">II I")  # customer id, expiry (unix seconds), bound id (staff id, or 0)


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"kizuna:{purpose}".encode(), hashlib.sha256).digest()


def issue(*, secret: str, purpose: str, customer_id: int, now: datetime, bound_to: int = 0) -> str:
    lifetime = CARD_LIFETIME if purpose in _SHORT_LIVED else TILL_LIFETIME
    expires = int((now + lifetime).timestamp())
    payload = _LAYOUT.pack(customer_id, expires, bound_to)
    mac = hmac.new(_key(secret, purpose), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return _PREFIX[purpose] + base64.b32encode(payload + mac).decode().rstrip("=")


def read(*, secret: str, purpose: str, code: str, now: datetime, bound_to: int = 0) -> int:
    """The customer id in a valid code; InvalidCardToken or ExpiredCardToken otherwise."""
    customer_id, bound = read_bound(secret=secret, purpose=purpose, code=code, now=now)
    if bound != bound_to:
        raise InvalidCardToken()
    return customer_id


def read_bound(*, secret: str, purpose: str, code: str, now: datetime) -> tuple[int, int]:
    """The customer id and the id the code is bound to (a coupon's), for a valid code of this purpose."""
    code = (code or "").strip().upper()
    prefix = _PREFIX[purpose]
    if not code.startswith(prefix) or len(code) > 80:  # mutation-equivalent: any bound over 42 (a code's length)
        raise InvalidCardToken()
    body = code[len(prefix) :]
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (ValueError, TypeError):
        raise InvalidCardToken() from None
    if len(raw) != _LAYOUT.size + _MAC_BYTES:
        raise InvalidCardToken()
    payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    expected = hmac.new(_key(secret, purpose), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise InvalidCardToken()
    customer_id, expires, bound = _LAYOUT.unpack(payload)
    if datetime.fromtimestamp(expires, UTC) <= now:
        raise ExpiredCardToken()
    return customer_id, bound


def expires_at(code: str) -> datetime | None:
    """When a well-formed code expires (for display); None when it is not one."""
    try:
        body = code[3:]
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
        return datetime.fromtimestamp(_LAYOUT.unpack(raw[: _LAYOUT.size])[1], UTC)
    except (ValueError, TypeError, struct.error):
        return None
