"""Stores: list them, create or update one by code (the POS or an admin's script)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import IntegrityError

from bot.api.customers import json_object
from bot.api.errors import ApiError
from crm_core import hours, stores
from crm_core.errors import InvalidInput
from crm_core.models import Store

STORE_FIELDS = {"code": 32, "name": 200, "address": 300, "phone": 40}
OPTIONAL_FIELDS = {"active", "business_hours"}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/stores", view_func=list_stores, methods=["GET"])
    bp.add_url_rule("/stores", view_func=upsert_store, methods=["POST"])


def _uow():
    return current_app.extensions["kizuna"].uow_factory()


def store_view(store: Store) -> dict:
    return {
        "code": store.code,
        "name": store.name,
        "address": store.address,
        "phone": store.phone,
        "active": store.active,
        "business_hours": store.business_hours,
    }


def list_stores():
    """Every store, open or closed, by code."""
    with _uow() as uow:
        items = [store_view(store) for store in stores.list_stores(uow=uow)]
    return jsonify({"items": items, "next": None})


def _fields(body: dict) -> dict:
    """Check names, types and lengths; 400 names the first wrong field."""
    unknown = sorted(set(body) - set(STORE_FIELDS) - OPTIONAL_FIELDS)
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field(s): {', '.join(unknown)}.")
    for name in ("code", "name"):
        if not isinstance(body.get(name), str):
            raise ApiError(400, "invalid_field", f"{name} is required and must be a string.")
    fields = {}
    for name, longest in STORE_FIELDS.items():
        if name not in body:
            continue
        value = body[name]
        if value is not None and not isinstance(value, str):
            raise ApiError(400, "invalid_field", f"{name} must be a string or null.")
        if value is not None and len(value) > longest:
            raise ApiError(400, "invalid_field", f"{name} may be at most {longest} characters long.")
        fields[name] = value
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise ApiError(400, "invalid_field", "active must be true or false.")
        fields["active"] = body["active"]
    if "business_hours" in body:
        raw = body["business_hours"]
        fields["business_hours"] = None if raw is None else _hours(raw)
    return fields


def _hours(raw) -> hours.BusinessHours:
    try:
        return hours.from_json(raw)
    except InvalidInput as error:
        raise ApiError(422, error.code, f"business_hours: {error}") from None


def upsert_store():
    """Create the store with this code (201), or update it (200); fields left out keep their value."""
    fields = _fields(json_object())
    try:
        created, body = _upsert(fields)
    except IntegrityError:
        # another request created the same code at the same moment: this one is an update
        created, body = _upsert(fields)
    response = jsonify(body)
    response.status_code = 201 if created else 200
    return response


def _upsert(fields: dict) -> tuple[bool, dict]:
    with _uow() as uow:
        try:
            store, created = stores.upsert_store(uow=uow, **fields)
        except InvalidInput as error:
            field = error.params.get("field")
            raise ApiError(422, error.code, f"{field}: {error}" if field else str(error)) from None
        body = store_view(store)
        uow.commit()
    return created, body
