"""Bearer tokens: every API route but the OpenAPI document needs one, with the scope the route names."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from bot.api.errors import ApiError
from crm_core import api_tokens

PUBLIC_ENDPOINTS = {"api.openapi_document"}
# the scope each route needs (crm_core.api_tokens.SCOPES); the OpenAPI document says the same
ENDPOINT_SCOPES = {
    "api.upsert_customer": "customers:write",
    "api.list_customers": "customers:read",
    "api.get_customer": "customers:read",
    "api.get_points": "points:read",
    "api.create_purchase": "purchases:write",
    "api.create_refund": "purchases:write",
    "api.get_purchase": "purchases:read",
    "api.list_purchases": "purchases:read",
    "api.list_stores": "stores:read",
    "api.upsert_store": "stores:write",
    "api.list_coupons": "coupons:read",
    "api.define_coupon": "coupons:write",
    "api.issue_coupon": "coupons:write",
    "api.redeem_coupon": "coupons:redeem",
    "api.list_reservations": "reservations:read",
    "api.list_store_menus": "reservations:read",
    "api.get_availability": "reservations:read",
    "api.create_reservation": "reservations:write",
}


def require_token():
    """Refuse the request with 401 unless it carries a valid, unrevoked token (its last use is recorded),
    and with 403 when the token lacks the route's scope."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "unauthorized", "Send an API token: Authorization: Bearer <token>.")
    with current_app.extensions["kizuna"].uow_factory() as uow:
        token = api_tokens.authenticate(uow=uow, raw=raw.strip())
        if token is None:
            raise ApiError(401, "unauthorized", "The API token is unknown or revoked.")
        uow.commit()
        g.api_token_id = token.id
        g.api_token_store_id = token.store_id
    needed = ENDPOINT_SCOPES.get(request.endpoint)
    if needed is not None and needed not in api_tokens.scopes_of(token):
        raise ApiError(403, "forbidden", f"This token lacks the scope {needed}.")
    return None


def token_store_id() -> int | None:
    """The store the request's token is restricted to, or None for a token of the whole shop."""
    return g.get("api_token_store_id")


def check_token_store(store_id: int | None) -> None:
    """Refuse (403) a purchase or refund of another store than the token's."""
    allowed = token_store_id()
    if allowed is not None and store_id != allowed:
        raise ApiError(403, "forbidden", "This token may only be used for its own store's purchases.")


def register(bp: Blueprint) -> None:
    bp.before_request(require_token)
