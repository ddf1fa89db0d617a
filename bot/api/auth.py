"""Bearer tokens: every API route but the OpenAPI document needs one."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from bot.api.errors import ApiError
from crm_core import api_tokens

PUBLIC_ENDPOINTS = {"api.openapi_document"}


def require_token():
    """Refuse the request with 401 unless it carries a valid, unrevoked token (its last use is recorded)."""
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
    return None


def register(bp: Blueprint) -> None:
    bp.before_request(require_token)
