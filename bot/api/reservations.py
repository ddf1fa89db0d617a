"""Reservations over the REST API: a store's menus, the free times of a day, a customer's bookings, booking.

A booking through the API (the web shop, a phone system) is made on the customer's behalf and follows
the customers' rules: the store's notice (`min_notice_minutes`) and how far ahead one may book
(`horizon_days`). What `GET /availability` offers is exactly what `POST /reservations` accepts; staff
who must book past those rules do so in the console. Refusals of a time answer 422 with the reason as
the error code (`past`, `too_soon`, `too_far`, `closed`, `off_grid`); a time with no place left answers
409 `full`. `idempotency_key` in the body (as for issuing coupons) makes a retry answer the same booking.

Times are answered in the store's time zone (`2026-11-23T10:00:00+09:00`); a time sent may have any offset.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request

from bot.api.customers import MAX_ID, _limit, json_object
from bot.api.errors import ApiError
from bot.api.fields import check_fields, text, whole
from crm_core import customers, reservations, stores
from crm_core.errors import NotBookable
from crm_core.models import Booking, BookingMenu, Store

RESERVATION_FIELDS = {"customer_id", "store_code", "menu", "starts_at", "idempotency_key", "note"}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/reservations", view_func=list_reservations, methods=["GET"])
    bp.add_url_rule("/reservations", view_func=create_reservation, methods=["POST"])
    bp.add_url_rule("/stores/<code>/menus", view_func=list_store_menus, methods=["GET"])
    bp.add_url_rule("/availability", view_func=get_availability, methods=["GET"])


def _services():
    return current_app.extensions["kizuna"]


def _store(uow, code) -> Store:
    store = stores.get_store_by_code(uow=uow, code=code)
    if store is None:
        raise ApiError(404, "not_found", "No store with this code.")
    return store


def _zone(uow, store: Store) -> ZoneInfo:
    settings = reservations.get_settings(uow=uow, store_id=store.id)
    return reservations.zone_of(settings, _services().settings.zone)


def _param(name: str, longest: int = 100) -> str:
    value = request.args.get(name, "").strip()
    if not value or len(value) > longest:
        raise ApiError(400, "invalid_parameter", f"{name} is required (1 to {longest} characters).")
    return value


def _day(name: str) -> date:
    value = request.args.get(name, "").strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ApiError(400, "invalid_parameter", f"{name} must be a date like 2026-12-24.")


def _starts_at(body: dict) -> datetime:
    value = body.get("starts_at")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise ApiError(
        400, "invalid_field", "starts_at must be an ISO 8601 time with a zone, like 2026-12-24T10:00:00+09:00."
    )


def reservation_view(booking: Booking, store: Store, menu: BookingMenu, zone: ZoneInfo) -> dict:
    return {
        "id": booking.id,
        "store_code": store.code,
        "menu": menu.code,
        "menu_name": menu.name,
        "starts_at": booking.starts_at.astimezone(zone).isoformat(),
        "ends_at": booking.ends_at.astimezone(zone).isoformat(),
        "status": booking.status,
        "price": booking.price,
        "source": booking.source,
    }


def _encode(booking: Booking) -> str:
    raw = f"{int(booking.starts_at.timestamp())}.{booking.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seconds, _, booking_id = raw.partition(".")
        digits = all(part.isascii() and part.isdigit() for part in (seconds, booking_id))
        if digits and len(seconds) <= 12 and len(booking_id) <= 18:
            return datetime.fromtimestamp(int(seconds), UTC), min(int(booking_id), MAX_ID)
    except (binascii.Error, ValueError, OverflowError, OSError):
        pass
    raise ApiError(400, "invalid_cursor", "The cursor is not one this API handed out.")


def list_reservations():
    """A customer's bookings (booked, cancelled, arrived, no-show), the latest start first, paged with `cursor`."""
    raw = request.args.get("customer_id", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(400, "invalid_parameter", "customer_id is required and must be a whole number.")
    limit = _limit()
    before = _decode(request.args["cursor"]) if request.args.get("cursor") else None
    with _services().uow_factory() as uow:
        customer = customers.check_customer(uow=uow, customer_id=min(int(raw), MAX_ID))
        page = reservations.list_for_customer(uow=uow, customer_id=customer.id, limit=limit + 1, before=before)
        shown, zones = [], {}
        for booking in page[:limit]:
            store = uow.session.get(Store, booking.store_id)
            if store.id not in zones:
                zones[store.id] = _zone(uow, store)
            menu = uow.session.get(BookingMenu, booking.menu_id)
            shown.append(reservation_view(booking, store, menu, zones[store.id]))
    return jsonify({"items": shown, "next": _encode(page[limit - 1]) if len(page) > limit else None})


def list_store_menus(code: str):
    """The store's bookable menus, in the order the store set (none while the store is closed)."""
    with _services().uow_factory() as uow:
        store = _store(uow, code)
        items = [
            {
                "code": menu.code,
                "name": menu.name,
                "description": menu.description,
                "duration_minutes": menu.duration_minutes,
                "capacity": reservations.menu_capacity(uow=uow, menu_id=menu.id),
                "price": menu.price,
            }
            for menu in (reservations.list_menus(uow=uow, store_id=store.id) if store.active else [])
        ]
    return jsonify({"items": items, "next": None})


def get_availability():
    """The start times still free that day for the menu, with the places left, as a customer may book them."""
    store_code, menu_code, day = _param("store_code", 32), _param("menu", 40), _day("date")
    services = _services()
    with services.uow_factory() as uow:
        store = _store(uow, store_code)
        menu = reservations.check_menu(uow=uow, store=store, code=menu_code)
        rules = reservations.rules_for(uow=uow, store=store, zone=services.settings.zone)
        slots = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=day) if store.active else []
        items = [{"starts_at": slot.starts_at.astimezone(rules.zone).isoformat(), "free": slot.free} for slot in slots]
    return jsonify({"items": items, "next": None})


def create_reservation():
    """Book a free time for a customer (201); the same idempotency_key again answers 200 with the same booking."""
    body = json_object()
    check_fields(body, RESERVATION_FIELDS)
    customer_id = whole(body, "customer_id")
    store_code, menu_code = text(body, "store_code", 32), text(body, "menu", 40)
    starts_at = _starts_at(body)
    key = text(body, "idempotency_key", 150, required=False)
    note = text(body, "note", 500, required=False)
    services = _services()
    with services.uow_factory() as uow:
        customers.check_customer(uow=uow, customer_id=min(customer_id, MAX_ID))
        store = _store(uow, store_code)
        menu = reservations.check_menu(uow=uow, store=store, code=menu_code)
        if not store.active:
            raise ApiError(422, "closed", "The store is closed; it takes no bookings.")
        try:
            result = reservations.book(
                uow=uow,
                customer_id=customer_id,
                store=store,
                menu=menu,
                starts_at=starts_at,
                zone=services.settings.zone,
                source="api",
                idempotency_key=f"api:{key}" if key else None,
                note=note,
            )
        except NotBookable as refused:
            raise ApiError(422, refused.params.get("reason", refused.code), str(refused)) from None
        view = reservation_view(result.booking, store, menu, _zone(uow, store))
        uow.commit()
    response = jsonify(view)
    response.status_code = 201 if result.created else 200
    return response
