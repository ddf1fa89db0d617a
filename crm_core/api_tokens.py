"""REST API tokens: random, shown once, stored as SHA-256 (they are long enough not to need a slow hash)."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import select

from crm_core.errors import N_, InvalidInput
from crm_core.models import ApiToken
from crm_core.uow import UnitOfWork

PREFIX = "kzn_"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(*, uow: UnitOfWork, name: str) -> tuple[ApiToken, str]:
    """Return the stored token and the raw value, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput(N_("A token needs a name."))
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name[:100], token_hash=_digest(raw), prefix=raw[:10], created_at=uow.now())
    uow.session.add(token)
    uow.session.flush()
    return token, raw


def authenticate(*, uow: UnitOfWork, raw: str) -> ApiToken | None:
    if not raw or not raw.startswith(PREFIX):
        return None
    token = uow.session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(raw))).first()
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = uow.now()
    return token


def revoke(*, uow: UnitOfWork, token_id: int) -> None:
    token = uow.session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = uow.now()
