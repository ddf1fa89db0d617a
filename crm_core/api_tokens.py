"""REST API tokens: random, shown once, stored as SHA-256 (they are long enough not to need a slow hash)."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import select

from crm_core.errors import N_, Conflict, InvalidInput, NotFound
from crm_core.models import ApiToken
from crm_core.uow import UnitOfWork

PREFIX = "kzn_"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(*, uow: UnitOfWork, name: str) -> tuple[ApiToken, str]:
    """Return the stored token and the raw value, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput(N_("A token needs a name."), field="name")
    name = name[:100]
    if get_active_by_name(uow=uow, name=name) is not None:
        raise Conflict(N_("An active token is already called %(name)s. Choose another name."), name=name, field="name")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=_digest(raw), prefix=raw[:10], created_at=uow.now())
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


def revoke(*, uow: UnitOfWork, token_id: int) -> ApiToken | None:
    """Revoke a token (it stops working at once); the token, or None when there is no such token."""
    token = uow.session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = uow.now()
    return token


def get_active_by_name(*, uow: UnitOfWork, name: str) -> ApiToken | None:
    query = select(ApiToken).where(ApiToken.name == (name or "").strip(), ApiToken.revoked_at.is_(None))
    return uow.session.exec(query).first()


def list_tokens(*, uow: UnitOfWork) -> list[ApiToken]:
    """Every token, newest first, revoked ones included (their history stays readable)."""
    return list(uow.session.exec(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_by_name(*, uow: UnitOfWork, name: str) -> ApiToken:
    """Revoke the active token with this name; it stops working at once."""
    token = get_active_by_name(uow=uow, name=name)
    if token is None:
        raise NotFound(N_("There is no active token called %(name)s."), name=(name or "").strip())
    token.revoked_at = uow.now()
    return token
