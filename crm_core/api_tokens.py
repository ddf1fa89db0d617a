"""REST API tokens: random, shown once, stored as SHA-256 (they are long enough not to need a slow hash).

A token may do what its scopes name, one per kind of endpoint and verb, and may be restricted to one
store: a till or POS token for SHIBUYA records and reads only SHIBUYA's purchases and refunds, and
reads no customer list. Tokens made before scopes existed have every scope (`scopes` is NULL).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import select

from crm_core import stores
from crm_core.errors import N_, Conflict, InvalidInput, NotFound
from crm_core.models import ApiToken, Store
from crm_core.uow import UnitOfWork

PREFIX = "kzn_"
SCOPES = (
    "customers:read",
    "customers:write",
    "points:read",
    "purchases:read",
    "purchases:write",
    "stores:read",
    "stores:write",
    "coupons:read",
    "coupons:write",
    "coupons:redeem",
    "reservations:read",
    "reservations:write",
)
# what a token for one store may do: its own purchases and refunds, the store list, coupons at its till
STORE_SCOPES = ("purchases:read", "purchases:write", "stores:read", "coupons:redeem")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(
    *, uow: UnitOfWork, name: str, scopes: list[str] | None = None, store_code: str | None = None
) -> tuple[ApiToken, str]:
    """Return the stored token and the raw value, which is never stored.

    No scopes: every scope, or with a store every scope a store's token may have (STORE_SCOPES).
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInput(N_("A token needs a name."), field="name")
    name = name[:100]
    store = stores.check_store(uow=uow, code=store_code) if (store_code or "").strip() else None
    chosen = check_scopes(scopes, store=store)
    if get_active_by_name(uow=uow, name=name) is not None:
        raise Conflict(N_("An active token is already called %(name)s. Choose another name."), name=name, field="name")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=_digest(raw),
        prefix=raw[:10],
        created_at=uow.now(),
        scopes=" ".join(chosen),
        store_id=store.id if store else None,
    )
    uow.session.add(token)
    uow.session.flush()
    return token, raw


def check_scopes(scopes: list[str] | None, *, store: Store | None = None) -> tuple[str, ...]:
    """The scopes a new token gets, in SCOPES order; InvalidInput for an unknown or, with a store, a too wide one."""
    wanted = {scope.strip() for scope in scopes or () if scope.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise InvalidInput(
            N_("There is no scope %(scope)s. Choose from: %(scopes)s."),
            scope=unknown[0],
            scopes=", ".join(SCOPES),
            field="scopes",
        )
    allowed = STORE_SCOPES if store is not None else SCOPES
    if store is not None and wanted - set(STORE_SCOPES):
        raise InvalidInput(
            N_("A token for one store may only have these scopes: %(scopes)s."),
            scopes=", ".join(STORE_SCOPES),
            field="scopes",
        )
    return tuple(scope for scope in SCOPES if scope in (wanted or allowed))


def scopes_of(token: ApiToken) -> tuple[str, ...]:
    """What the token may do; a token made before scopes existed may do everything."""
    return SCOPES if token.scopes is None else tuple(token.scopes.split())


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
