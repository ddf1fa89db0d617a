"""The REST API at /api/v1: bearer tokens, JSON in and out, errors as `{"error": {code, message}}`."""

from __future__ import annotations

from flask import Blueprint

from bot.api import auth, coupons, customers, errors, openapi, purchases, reservations, stores


def create_api_blueprint() -> Blueprint:
    """The API's routes, its token check and its JSON errors, to be mounted at /api/v1 (CSRF-exempt)."""
    bp = Blueprint("api", __name__)
    errors.register(bp)
    auth.register(bp)
    customers.register(bp)
    purchases.register(bp)
    stores.register(bp)
    coupons.register(bp)
    reservations.register(bp)
    openapi.register(bp)
    return bp
