"""The signed link to the profile page: bound to one customer, good for 24 hours, no login.

itsdangerous signs the customer id with the app's secret key and a salt of its own (a token made for
anything else is refused here), and stamps it with the injected clock's time, so tests can let it age.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

SALT = "kizuna.profile-page"
LIFETIME = timedelta(hours=24)
PATH = "/profile"


class _ClockSigner(TimestampSigner):
    def __init__(self, *args, now: Callable[[], datetime], **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now().timestamp())


def _serializer(secret: str, now: Callable[[], datetime]) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT, signer=_ClockSigner, signer_kwargs={"now": now})


def issue(*, secret: str, customer_id: int, now: datetime) -> str:
    return _serializer(secret, lambda: now).dumps({"customer_id": customer_id})


def url(*, public_url: str, secret: str, customer_id: int, now: datetime, locale: str) -> str:
    """The page's address as LINE shows it, in the customer's language."""
    token = issue(secret=secret, customer_id=customer_id, now=now)
    return f"{public_url}{PATH}?{urlencode({'t': token, 'lang': locale})}"


def read(*, secret: str, token: str, now: datetime) -> int | None:
    """The customer id the token was made for, or None when it is expired, changed or made for something else."""
    try:
        payload = _serializer(secret, lambda: now).loads(token, max_age=int(LIFETIME.total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    customer_id = payload.get("customer_id") if isinstance(payload, dict) else None
    return customer_id if isinstance(customer_id, int) and not isinstance(customer_id, bool) else None
