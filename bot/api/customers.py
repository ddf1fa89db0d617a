"""Customers: create or update by external id, look up by id or LINE user id, search."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date

from flask import Blueprint, current_app, jsonify, request, url_for
from sqlalchemy.exc import IntegrityError

from bot.api.errors import ApiError
from crm_core import contacts, customers
from crm_core.errors import InvalidInput

PAGE_SIZE = 50
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database; a larger one names no customer
MAX_PAGE_SIZE = 100
# field -> (what it must be, longest length); every field but external_id may be null except name and locale
CUSTOMER_FIELDS = {
    "external_id": ("string", 100),
    "name": ("string", 200),
    "name_kana": ("string", 200),
    "birth_date": ("date", 10),
    "phone": ("string", 40),
    "email": ("string", 254),
    "locale": ("locale", 5),
}
NOT_NULL = {"external_id", "name", "locale"}
# field -> the one check and normalization in crm_core.contacts
CONTACTS = {"phone": contacts.normalize_phone, "email": contacts.normalize_email, "name_kana": contacts.normalize_kana}
LOCALES = ("ja", "en")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/customers", view_func=upsert_customer, methods=["POST"])
    bp.add_url_rule("/customers", view_func=list_customers, methods=["GET"])
    bp.add_url_rule("/customers/<int:customer_id>", view_func=get_customer, methods=["GET"])


def _uow():
    return current_app.extensions["kizuna"].uow_factory()


def json_object() -> dict:
    """The request body as a JSON object, or 415 / 400."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    try:
        body = json.loads(request.get_data(cache=False) or b"")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "The body must be a JSON object.")
    return body


def customer_fields(body: dict) -> dict:
    """Check the customer fields' names, types and lengths; 400 names the first wrong field."""
    unknown = sorted(set(body) - set(CUSTOMER_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field(s): {', '.join(unknown)}.")
    fields = {}
    for name, value in body.items():
        kind, longest = CUSTOMER_FIELDS[name]
        if value is None:
            if name in NOT_NULL:
                raise ApiError(400, "invalid_field", f"{name} may not be null.")
            fields[name] = None
            continue
        if not isinstance(value, str):
            raise ApiError(400, "invalid_field", f"{name} must be a string.")
        value = value.strip()
        if len(value) > longest:
            raise ApiError(400, "invalid_field", f"{name} may be at most {longest} characters long.")
        if kind == "date":
            try:
                if len(value) != 10:
                    raise ValueError(value)
                value = date.fromisoformat(value)
            except ValueError:
                raise ApiError(400, "invalid_field", f"{name} must be a date like 1990-04-01.") from None
        elif kind == "locale" and value not in LOCALES:
            raise ApiError(400, "invalid_field", f"{name} must be one of: {', '.join(LOCALES)}.")
        elif name in CONTACTS:
            try:
                value = CONTACTS[name](value)
            except InvalidInput as error:
                raise ApiError(400, "invalid_field", f"{name}: {error.message}") from None
        fields[name] = value or (None if name not in NOT_NULL else value)
    if not fields.get("external_id"):
        raise ApiError(400, "invalid_field", "external_id is required.")
    return fields


def upsert_customer():
    """Create the customer the POS knows by `external_id` (201), or update it (200)."""
    fields = customer_fields(json_object())
    external_id = fields.pop("external_id")
    try:
        created, body = _upsert(external_id, fields)
    except IntegrityError:
        # another request created the same external_id at the same moment: this one is an update
        created, body = _upsert(external_id, fields)
    response = jsonify(body)
    if created:
        response.status_code = 201
        response.headers["Location"] = url_for("api.get_customer", customer_id=body["id"])
    return response


def _upsert(external_id: str, fields: dict) -> tuple[bool, dict]:
    with _uow() as uow:
        customer, created = customers.upsert_by_external_id(uow=uow, external_id=external_id, fields=fields)
        uow.session.flush()
        body = customers.view(uow=uow, customer=customer).as_dict()
        uow.commit()
    return created, body


def get_customer(customer_id: int):
    """One customer: 404 when unknown, 410 when their data was erased."""
    if customer_id > MAX_ID:
        raise ApiError(404, "not_found", "No customer with this id.")
    with _uow() as uow:
        customer = customers.check_customer(uow=uow, customer_id=customer_id)
        return jsonify(customers.view(uow=uow, customer=customer).as_dict())


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        text = ""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API handed out.")
    return min(int(text), MAX_ID)


def _limit() -> int:
    raw = request.args.get("limit", str(PAGE_SIZE))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid_parameter", f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}.")
    return int(raw)


def list_customers():
    """Look a customer up by `line_user_id`, or search with `q` and page with `cursor`."""
    line_user_id = request.args.get("line_user_id")
    with _uow() as uow:
        if line_user_id is not None:
            customer = customers.get_by_line_user_id(uow=uow, line_user_id=line_user_id.strip())
            found = [customer] if customer is not None and customer.erased_at is None else []
            return jsonify({"items": [customers.view(uow=uow, customer=c).as_dict() for c in found], "next": None})
        limit = _limit()
        after_id = decode_cursor(request.args["cursor"]) if request.args.get("cursor") else 0
        page = customers.search(uow=uow, text=request.args.get("q", "")[:200], after_id=after_id, limit=limit + 1)
        items = [customers.view(uow=uow, customer=c).as_dict() for c in page[:limit]]
    next_cursor = encode_cursor(page[limit - 1].id) if len(page) > limit else None
    return jsonify({"items": items, "next": next_cursor})
