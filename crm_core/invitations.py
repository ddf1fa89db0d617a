"""Password links: an invited or reset console account sets its own password through a signed link.

The link carries the account id, its session epoch, a fingerprint of its password hash and an expiry
(72 hours), signed with KIZUNA_SECRET_KEY (itsdangerous, with its own salt). Setting the password raises
the epoch and changes the hash, so a link works once; a newer link, a disabled account or another reset
makes the older one useless too.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from crm_core import staff
from crm_core.errors import N_, ExpiredPasswordLink, InvalidInput, InvalidPasswordLink
from crm_core.models import StaffUser
from crm_core.uow import UnitOfWork

LINK_LIFETIME = timedelta(hours=72)
_SALT = "kizuna.console.password-link"


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def _fingerprint(user: StaffUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def issue_token(*, secret: str, user: StaffUser, now: datetime) -> str:
    """A token for `/console/invite/<token>` that lets the account set its password once, for 72 hours."""
    expires = int((now + LINK_LIFETIME).timestamp())
    return _serializer(secret).dumps([user.id, user.session_epoch, _fingerprint(user), expires])


def check_token(*, uow: UnitOfWork, secret: str, token: str) -> StaffUser:
    """The account a valid, unused, unexpired token names; InvalidPasswordLink or ExpiredPasswordLink otherwise."""
    try:
        staff_user_id, epoch, fingerprint, expires = _serializer(secret).loads(token or "")
    except (BadSignature, TypeError, ValueError):
        raise InvalidPasswordLink() from None
    user = staff.get_staff_user(uow=uow, staff_user_id=int(staff_user_id))
    if user is None or not user.active:
        raise InvalidPasswordLink()
    if epoch != user.session_epoch or fingerprint != _fingerprint(user):
        raise ExpiredPasswordLink()
    if datetime.fromtimestamp(expires, UTC) <= uow.now():
        raise ExpiredPasswordLink()
    return user


def set_password_with_token(*, uow: UnitOfWork, secret: str, token: str, password: str, confirmation: str) -> StaffUser:
    """Set the password a link was made for; the link (and any session of the account) stops working."""
    user = check_token(uow=uow, secret=secret, token=token)
    staff.check_password(password)
    if password != confirmation:
        raise InvalidInput(N_("The two passwords are not the same."), field="confirmation")
    return staff.reset_password(uow=uow, staff_user_id=user.id, password=password)
