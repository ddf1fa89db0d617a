"""Exports of a store's bookings: a CSV of a date range (admins), and an iCalendar feed a calendar app subscribes
to.

The feed cannot use the console's session, so its URL carries a token signed with the app's secret key (itsdangerous)
that names the store; changing KIZUNA_SECRET_KEY revokes every feed URL. It shows no more than staff need in a
calendar: the customer's name and the menu, at the booking's time (RFC 5545, written by hand).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import select

from bot.console.reservations import stores as store_pages
from bot.console.session import kizuna, login_required
from crm_core import reservations, stores
from crm_core.errors import N_, InvalidInput
from crm_core.models import Booking, BookingMenu, BookingResource, Customer, Store
from crm_core.reservations.bookings import SHOWN
from crm_core.uow import UnitOfWork

ROLE = "admin"
FEED_SALT = "kizuna.reservations.calendar-feed"
FEED_PAST = timedelta(days=31)  # what a calendar app is given: a month back ...
FEED_AHEAD = timedelta(days=366)  # ... and a year ahead
MAX_DAYS = 366  # the longest CSV range
CSV_COLUMNS = (
    "id", "store", "menu", "resource", "customer_name", "member_number", "starts_at", "ends_at", "status", "price",
    "source",
)  # fmt: skip
FEED_STATUSES = ("booked", "arrived", "no_show")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/<code>/bookings.csv", view_func=bookings_csv)
    bp.add_url_rule("/<code>/calendar.ics", view_func=calendar_feed)


# -- the feed's token ---------------------------------------------------------------------------------------


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(kizuna().settings.secret_key, salt=FEED_SALT)


def feed_token(store: Store, version: int) -> str:
    return _signer().dumps({"store": store.id, "v": version})


def feed_url(store: Store, version: int) -> str:
    """The store's feed, at the public address a calendar app reaches; `version`: the store's feed_version."""
    path = url_for("console.reservations.calendar_feed", code=store.code, token=feed_token(store, version))
    return kizuna().settings.public_url.rstrip("/") + path


def _token_of(token: str) -> tuple[int, int] | None:
    """(store id, feed version) the token was signed for, or None."""
    try:
        data = _signer().loads(token or "")
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    store_id, version = data.get("store"), data.get("v")
    return (store_id, version) if isinstance(store_id, int) and isinstance(version, int) else None


# -- reading the bookings -----------------------------------------------------------------------------------


def _rows(uow: UnitOfWork, store: Store, start: datetime, end: datetime, statuses) -> list[tuple]:
    """(booking, menu, resource, customer) of the store's bookings starting in [start, end), by start."""
    query = (
        select(Booking, BookingMenu, BookingResource, Customer)
        .join(BookingMenu, BookingMenu.id == Booking.menu_id)
        .join(BookingResource, BookingResource.id == Booking.resource_id)
        .join(Customer, Customer.id == Booking.customer_id)
        .where(Booking.store_id == store.id, Booking.starts_at >= start, Booking.starts_at < end)
        .where(Booking.status.in_(statuses))
        .order_by(Booking.starts_at, Booking.id)
    )
    return list(uow.session.exec(query))


def _range() -> tuple[date, date]:
    """The CSV's first and last day (the store's business days); InvalidInput names the refused field."""
    days = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(request.args.get(name, "").strip()[:10])
        except ValueError:
            raise InvalidInput(N_("Enter a date like 2026-11-30."), field=name) from None
    if days["to"] < days["from"]:
        raise InvalidInput(N_("The last day is before the first."), field="to")
    if (days["to"] - days["from"]).days >= MAX_DAYS:
        raise InvalidInput(N_("Export at most %(count)s days at a time."), count=MAX_DAYS, field="to")
    return days["from"], days["to"]


def _cell(value) -> str:
    """A value as a spreadsheet shows it, never as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _local(moment: datetime, zone) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


@login_required(role=ROLE)
def bookings_csv(code: str):
    """Download the store's bookings of a date range as CSV (UTF-8 with a BOM, so Excel reads it), times in the
    store's zone."""
    from bot.console.reservations.setup import setup_response  # the page that shows a refused range

    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None:
            abort(404)
        zone = store_pages.zone_of(uow, store)
        try:
            first, last = _range()
        except InvalidInput as error:
            refused = error
        else:
            refused = None
    if refused is not None:  # the setup page shows it, in a new unit of work
        values = {"export": {"from": request.args.get("from", "")[:10], "to": request.args.get("to", "")[:10]}}
        errors = {"export": {refused.params["field"]: store_pages.message(refused)}}
        return setup_response(code, errors=errors, values=values, status=400)
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        start, _end = reservations.day_bounds(first, zone)
        _start, end = reservations.day_bounds(last, zone)
        rows = _rows(uow, store, start, end, SHOWN)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for booking, menu, resource, customer in rows:
            writer.writerow(
                [
                    booking.id,
                    _cell(store.code),
                    _cell(menu.name),
                    _cell(resource.name),
                    _cell(customer.name if customer.erased_at is None else ""),
                    _cell(customer.member_number),
                    _local(booking.starts_at, zone),
                    _local(booking.ends_at, zone),
                    booking.status,
                    booking.price,
                    booking.source,
                ]
            )
    name = f"bookings-{store.code}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


# -- iCalendar (RFC 5545) -----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11)."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with a space (RFC 5545 3.1), never splitting a UTF-8 character."""
    parts, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not parts else 74):
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_text(*, store: Store, rows: list[tuple], zone_name: str, host: str) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Kizuna//Reservations//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(store.name)}",
        f"X-WR-TIMEZONE:{zone_name}",
    ]
    for booking, menu, _resource, customer in rows:
        name = customer.name if customer.erased_at is None else "—"
        lines += [
            "BEGIN:VEVENT",
            f"UID:booking-{booking.id}@{host}",
            f"DTSTAMP:{_stamp(booking.updated_at)}",
            f"DTSTART:{_stamp(booking.starts_at)}",
            f"DTEND:{_stamp(booking.ends_at)}",
            f"SUMMARY:{_escape(f'{name} · {menu.name}')}",
            "STATUS:CONFIRMED",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def calendar_feed(code: str):
    """The store's bookings for a calendar app (no login: the signed token in the URL names the store)."""
    signed = _token_of(request.args.get("token", ""))
    with kizuna().uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code=code)
        if store is None or signed is None or signed[0] != store.id:
            abort(404)
        if signed[1] != reservations.get_settings(uow=uow, store_id=store.id).feed_version:
            abort(404)  # an address ended with "new address"
        zone = store_pages.zone_of(uow, store)
        now = uow.now()
        rows = _rows(uow, store, now - FEED_PAST, now + FEED_AHEAD, FEED_STATUSES)
        host = urlsplit(kizuna().settings.public_url).hostname or "kizuna"
        text = calendar_text(store=store, rows=rows, zone_name=zone.key, host=host)
    return Response(
        text.encode("utf-8"),
        mimetype="text/calendar",
        headers={
            "Content-Disposition": f'inline; filename="{store.code}.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )
