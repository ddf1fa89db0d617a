"""The reservation endpoints of PRODUCT.md: menus, free times, booking and a customer's bookings, with every refusal.

The clock stands at Sunday 2026-11-22 12:00 in Tokyo; the store keeps the shop's hours (10:00-19:00
every day) and the default settings (a start every 30 minutes, one hour's notice, 60 days ahead).
"""

from __future__ import annotations

from dataclasses import dataclass

import jsonschema
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.api.openapi import DOCUMENT
from crm_core import api_tokens, customers, reservations
from crm_core.models import Booking, Store, TimelineEntry
from tests.conftest import PG_URL
from tests.threads import together


def _shape(name: str, instance) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def _list_shape(name: str, body) -> None:
    assert set(body) == {"items", "next"}
    for item in body["items"]:
        _shape(name, item)


def _error(response, status: int, code: str) -> None:
    assert (response.status_code, response.json["error"]["code"]) == (status, code), response.json
    _shape("Error", response.json)


@dataclass
class Salon:
    hanako: int
    taro: int
    crowd: list[int]


@pytest.fixture
def salon(uow_factory) -> Salon:
    """Two stylists for cuts, a consultation with one place of its own, four lunch tables; a closed store."""
    with uow_factory() as uow:
        store = Store(code="SALON", name="表参道サロン", created_at=uow.now())
        closed = Store(code="OLD", name="旧店舗", active=False, created_at=uow.now())
        uow.session.add_all([store, closed])
        uow.session.flush()
        for code, name in (("aoi", "あおい"), ("ren", "れん")):
            reservations.upsert_resource(uow=uow, store_id=store.id, code=code, name=name)
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="cut", name="カット", duration_minutes=60, price=5500,
            resource_codes=["aoi", "ren"],
        )  # fmt: skip
        reservations.upsert_menu(uow=uow, store_id=store.id, code="consult", name="相談", duration_minutes=30)
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="table", name="ランチ", duration_minutes=90, price=3000, capacity=4
        )
        reservations.upsert_menu(uow=uow, store_id=closed.id, code="cut", name="カット", duration_minutes=60)
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="old", name="旧メニュー", duration_minutes=30, active=False
        )
        hanako = customers.create_customer(uow=uow, name="山田 花子").id
        taro = customers.create_customer(uow=uow, name="佐藤 太郎").id
        crowd = [customers.create_customer(uow=uow, name=f"客{n}").id for n in range(20)]
        uow.commit()
    return Salon(hanako, taro, crowd)


def _book(api, customer_id: int, starts_at: str, menu: str = "cut", **extra):
    body = {"customer_id": customer_id, "store_code": "SALON", "menu": menu, "starts_at": starts_at, **extra}
    return api.post("/reservations", json=body)


def test_menus_free_times_booking_and_the_customers_list_as_product_md_says(api, salon, uow_factory):
    menus = api.get("/stores/salon/menus")
    assert menus.status_code == 200
    _list_shape("Menu", menus.json)
    assert [(m["code"], m["duration_minutes"], m["capacity"], m["price"]) for m in menus.json["items"]] == [
        ("cut", 60, 2, 5500),
        ("consult", 30, 1, 0),
        ("table", 90, 4, 3000),
    ], "the inactive menu is not offered"

    free = api.get("/availability?store_code=SALON&menu=cut&date=2026-11-23")
    assert free.status_code == 200
    _list_shape("FreeTime", free.json)
    assert free.json["next"] is None
    times = [slot["starts_at"] for slot in free.json["items"]]
    assert times[0] == "2026-11-23T10:00:00+09:00" and times[-1] == "2026-11-23T18:00:00+09:00"
    assert len(times) == 17 and {slot["free"] for slot in free.json["items"]} == {2}

    booked = _book(api, salon.hanako, "2026-11-23T01:00:00Z")  # 10:00 in Tokyo, sent in UTC
    assert booked.status_code == 201, booked.json
    _shape("Reservation", booked.json)
    assert booked.json["status"] == "booked" and booked.json["starts_at"] == "2026-11-23T10:00:00+09:00"

    after = api.get("/availability?store_code=SALON&menu=cut&date=2026-11-23").json["items"]
    assert after[0] == {"starts_at": "2026-11-23T10:00:00+09:00", "free": 1}
    assert after[2] == {"starts_at": "2026-11-23T11:00:00+09:00", "free": 2}, "a cut ends at 11:00"

    listed = api.get(f"/reservations?customer_id={salon.hanako}")
    assert listed.status_code == 200
    _list_shape("Reservation", listed.json)
    assert listed.json["items"] == [booked.json] and listed.json["next"] is None
    assert booked.json["store_code"] == "SALON" and booked.json["menu"] == "cut"
    assert api.get(f"/reservations?customer_id={salon.taro}").json == {"items": [], "next": None}
    with uow_factory() as uow:
        kinds = uow.session.exec(select(TimelineEntry.kind).where(TimelineEntry.customer_id == salon.hanako)).all()
        booking = uow.session.get(Booking, booked.json["id"])
        assert booking.source == "api" and booking.remind_eve_at is not None
    assert "booking_made" in kinds


def test_the_list_shows_cancelled_bookings_and_pages_latest_first(api, salon, uow_factory, services):
    ids = [_book(api, salon.hanako, f"2026-11-2{day}T14:00:00+09:00").json["id"] for day in (3, 4, 5)]
    with uow_factory() as uow:
        reservations.cancel(uow=uow, booking_id=ids[0], zone=services.settings.zone, as_staff=True)
        uow.commit()

    first = api.get(f"/reservations?customer_id={salon.hanako}&limit=2").json
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]] and first["next"]
    second = api.get(f"/reservations?customer_id={salon.hanako}&limit=2&cursor={first['next']}").json
    assert [(item["id"], item["status"]) for item in second["items"]] == [(ids[0], "cancelled")]
    assert second["next"] is None
    _error(api.get(f"/reservations?customer_id={salon.hanako}&cursor=nope!"), 400, "invalid_cursor")


def test_the_last_place_answers_409_full_and_the_time_leaves_the_free_times(api, salon):
    assert _book(api, salon.hanako, "2026-11-23T15:00:00+09:00", menu="consult").status_code == 201

    _error(_book(api, salon.taro, "2026-11-23T15:00:00+09:00", menu="consult"), 409, "full")
    _error(_book(api, salon.taro, "2026-11-23T14:45:00+09:00", menu="consult"), 422, "off_grid")
    free = api.get("/availability?store_code=SALON&menu=consult&date=2026-11-23").json["items"]
    assert "2026-11-23T15:00:00+09:00" not in [slot["starts_at"] for slot in free]
    assert api.get(f"/reservations?customer_id={salon.taro}").json["items"] == []


def test_the_same_idempotency_key_answers_the_same_booking_once(api, salon, uow_factory):
    first = _book(api, salon.hanako, "2026-11-24T11:00:00+09:00", idempotency_key="web-order-1")
    again = _book(api, salon.hanako, "2026-11-24T11:00:00+09:00", idempotency_key="web-order-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    with uow_factory() as uow:
        assert uow.session.exec(select(func.count()).select_from(Booking)).one() == 1

    _error(_book(api, salon.hanako, "2026-11-24T12:00:00+09:00", idempotency_key="web-order-1"), 409, "conflict")
    assert _book(api, salon.hanako, "2026-11-24T11:00:00+09:00").status_code == 201, "no key: a second booking"


def test_times_a_customer_could_not_book_are_refused_with_the_reason(api, salon):
    refusals = {
        "2026-11-22T09:00:00+09:00": "past",
        "2026-11-22T12:30:00+09:00": "too_soon",  # one hour's notice
        "2027-01-22T10:00:00+09:00": "too_far",  # 60 days ahead
        "2026-11-23T19:00:00+09:00": "off_grid",  # a cut would end after closing
        "2026-11-23T10:10:00+09:00": "off_grid",
    }
    for starts_at, reason in refusals.items():
        refused = _book(api, salon.hanako, starts_at)
        _error(refused, 422, reason)
        assert refused.json["error"]["message"]
    assert "60 days" in _book(api, salon.hanako, "2027-01-22T10:00:00+09:00").json["error"]["message"]
    assert api.get(f"/reservations?customer_id={salon.hanako}").json["items"] == []


def test_bad_input_and_unknown_names_are_refused_clearly(api, salon):
    for bad in ("2026-11-23T10:00:00", "2026-11-23", "tomorrow", "0001-01-01T00:00:00+09:00", 20261123, None):
        response = _book(api, salon.hanako, bad)
        _error(response, 400, "invalid_field")
        assert "starts_at" in response.json["error"]["message"]
    _error(_book(api, "1", "2026-11-23T10:00:00+09:00"), 400, "invalid_field")
    _error(_book(api, salon.hanako, "2026-11-23T10:00:00+09:00", table=3), 400, "unknown_field")
    _error(_book(api, 999_999, "2026-11-23T10:00:00+09:00"), 404, "not_found")
    _error(_book(api, 2**40, "2026-11-23T10:00:00+09:00"), 404, "not_found")
    _error(_book(api, salon.hanako, "2026-11-23T10:00:00+09:00", menu="perm"), 404, "not_found")
    _error(_book(api, salon.hanako, "2026-11-23T10:00:00+09:00", menu="old"), 404, "not_found")
    _error(_book(api, salon.hanako, "2026-11-23T10:00:00+09:00", store_code="NOPE"), 404, "not_found")
    closed = _book(api, salon.hanako, "2026-11-23T10:00:00+09:00", store_code="OLD")
    _error(closed, 422, "closed")
    _error(api.post("/reservations", data="{}", content_type="text/plain"), 415, "unsupported_media_type")

    for query in ("date=2026-11-31", "date=2026-1-5", "date=", ""):
        response = api.get(f"/availability?store_code=SALON&menu=cut&{query}")
        _error(response, 400, "invalid_parameter")
        assert "date" in response.json["error"]["message"]
    _error(api.get("/availability?menu=cut&date=2026-11-23"), 400, "invalid_parameter")
    _error(api.get("/availability?store_code=NOPE&menu=cut&date=2026-11-23"), 404, "not_found")
    _error(api.get("/availability?store_code=SALON&menu=perm&date=2026-11-23"), 404, "not_found")
    assert api.get("/availability?store_code=SALON&menu=cut&date=2026-11-21").json["items"] == [], "the past"
    assert api.get("/availability?store_code=SALON&menu=cut&date=2027-01-22").json["items"] == [], "too far"
    assert api.get("/availability?store_code=OLD&menu=cut&date=2026-11-23").json["items"] == [], "closed"

    _error(api.get("/stores/NOPE/menus"), 404, "not_found")
    assert api.get("/stores/OLD/menus").json == {"items": [], "next": None}, "a closed store offers nothing"
    _error(api.get("/reservations"), 400, "invalid_parameter")
    _error(api.get("/reservations?customer_id=abc"), 400, "invalid_parameter")
    _error(api.get("/reservations?customer_id=999999"), 404, "not_found")


def test_every_endpoint_needs_a_token_with_the_reservation_scopes(client, uow_factory, salon):
    with uow_factory() as uow:
        _, reader = api_tokens.create_token(uow=uow, name="Reader", scopes=["reservations:read"])
        _, other = api_tokens.create_token(uow=uow, name="Coupons", scopes=["coupons:read"])
        uow.commit()
    reads = [
        f"/api/v1/reservations?customer_id={salon.hanako}",
        "/api/v1/stores/SALON/menus",
        "/api/v1/availability?store_code=SALON&menu=cut&date=2026-11-23",
    ]
    body = {"customer_id": salon.hanako, "store_code": "SALON", "menu": "cut", "starts_at": "2026-11-23T10:00+09:00"}
    for path in reads:
        _error(client.get(path), 401, "unauthorized")
        _error(client.get(path, headers={"Authorization": f"Bearer {other}"}), 403, "forbidden")
        assert client.get(path, headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    _error(client.post("/api/v1/reservations", json=body), 401, "unauthorized")
    refused = client.post("/api/v1/reservations", json=body, headers={"Authorization": f"Bearer {reader}"})
    _error(refused, 403, "forbidden")
    assert "reservations:write" in refused.json["error"]["message"]


def test_the_openapi_document_lists_the_reservation_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, method, scope in (
        ("/reservations", "get", "reservations:read"),
        ("/reservations", "post", "reservations:write"),
        ("/stores/{code}/menus", "get", "reservations:read"),
        ("/availability", "get", "reservations:read"),
    ):
        assert document["paths"][path][method]["security"] == [{"bearer": [scope]}]
    assert "409" in document["paths"]["/reservations"]["post"]["responses"]


@pytest.mark.skipif(not PG_URL, reason="real concurrency needs PostgreSQL")
def test_20_systems_booking_the_last_table_get_it_once(app, api, salon, uow_factory):
    for customer in salon.crowd[:3]:
        assert _book(api, customer, "2026-11-24T12:00:00+09:00", menu="table").status_code == 201

    def book(n):
        body = {"customer_id": salon.crowd[n], "store_code": "SALON", "menu": "table",
                "starts_at": "2026-11-24T12:00:00+09:00"}  # fmt: skip
        return app.test_client().post("/api/v1/reservations", json=body, headers=api.headers).status_code

    assert sorted(together(17, lambda n: book(n + 3))) == [201] + [409] * 16
    with uow_factory() as uow:
        booked = uow.session.exec(select(func.count()).select_from(Booking).where(Booking.status == "booked")).one()
    assert booked == 4
