"""Identifiers shaped like the ones the LINE Platform issues."""

from __future__ import annotations

import secrets
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def line_user_id() -> str:
    """Return a LINE user id: "U" followed by 32 lowercase hex digits."""
    return "U" + secrets.token_hex(16)


def webhook_event_id(at_seconds: float) -> str:
    """Return a 26-character ULID (48-bit millisecond time, 80 random bits, Crockford base32)."""
    value = (int(at_seconds * 1000) & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def token(nbytes: int = 16) -> str:
    """Return an opaque token (reply tokens, link tokens, quote tokens)."""
    return secrets.token_hex(nbytes)


def request_id() -> str:
    """Return an id like LINE's x-line-request-id header value."""
    return str(uuid.uuid4())


def is_uuid(value: str) -> bool:
    """Tell whether ``value`` is a UUID in hexadecimal 8-4-4-4-12 form, as X-Line-Retry-Key requires."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return str(parsed) == value.lower()
