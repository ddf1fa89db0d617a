"""REST API stores: list them, create or update one by code, refuse bad fields with the reason."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from crm_core import customers, stores
from crm_core.models import Purchase, Store
from tests.integration.api.test_customers import assert_error


def count_stores(uow_factory) -> int:
    with uow_factory() as uow:
        return uow.session.exec(select(func.count()).select_from(Store)).one()


def test_create_then_update_by_code_and_list(api):
    created = api.post("/stores", json={"code": "shibuya", "name": "渋谷店", "address": "東京都渋谷区1-1",
                                        "phone": "03-1234-5678"})  # fmt: skip
    assert created.status_code == 201, created.json
    assert created.json == {
        "code": "SHIBUYA",
        "name": "渋谷店",
        "address": "東京都渋谷区1-1",
        "phone": "0312345678",
        "active": True,
        "business_hours": None,
    }
    updated = api.post("/stores", json={"code": "SHIBUYA", "name": "渋谷本店"})
    assert updated.status_code == 200
    assert updated.json["name"] == "渋谷本店" and updated.json["phone"] == "0312345678", "fields left out stay"
    api.post("/stores", json={"code": "OSAKA", "name": "大阪店", "active": False})

    listed = api.get("/stores").json
    assert listed["next"] is None
    assert [(s["code"], s["name"], s["active"]) for s in listed["items"]] == [
        ("OSAKA", "大阪店", False),
        ("SHIBUYA", "渋谷本店", True),
    ]


def test_a_store_may_have_its_own_business_hours(api, uow_factory):
    hours = {"weekly": {"mon": [], "tue": ["11:00-20:00"]}, "holidays": ["2026-12-31"]}
    response = api.post("/stores", json={"code": "UMEDA", "name": "梅田店", "business_hours": hours})
    assert response.status_code == 201
    assert response.json["business_hours"]["weekly"]["tue"] == ["11:00-20:00"]
    assert response.json["business_hours"]["holidays"] == ["2026-12-31"]
    back = api.post("/stores", json={"code": "UMEDA", "name": "梅田店", "business_hours": None})
    assert back.json["business_hours"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"code": "渋谷", "name": "渋谷店"}, 422, "code: A store code has 1 to 32 letters"),
        ({"code": "SHIBUYA", "name": "  "}, 422, "name: A store needs a name."),
        ({"code": "SHIBUYA", "name": "渋谷店", "phone": "12-34"}, 422, "phone: A phone number has 10 to 15 digits"),
        ({"code": "SHIBUYA"}, 400, "name is required"),
        ({"code": "SHIBUYA", "name": 5}, 400, "name is required"),
        ({"code": "SHIBUYA", "name": "渋谷店", "address": "x" * 301}, 400, "address may be at most 300"),
        ({"code": "SHIBUYA", "name": "渋谷店", "active": "yes"}, 400, "active must be true or false."),
        ({"code": "SHIBUYA", "name": "渋谷店", "colour": "red"}, 400, "Unknown field(s): colour."),
        (
            {"code": "SHIBUYA", "name": "渋谷店", "business_hours": {"weekly": {"fri": ["19:00-10:00"]}}},
            422,
            "business_hours: Friday: 19:00-10:00 closes before it opens",
        ),
    ],
)
def test_bad_stores_are_refused_with_the_reason_and_change_nothing(api, uow_factory, body, status, words):
    response = api.post("/stores", json=body)
    assert_error(response, status)
    assert words in response.json["error"]["message"]
    assert count_stores(uow_factory) == 0


def test_stores_need_a_token(client):
    assert_error(client.get("/api/v1/stores"), 401)
    assert_error(client.post("/api/v1/stores", json={"code": "A", "name": "A"}), 401)


def test_purchases_for_a_closed_store_are_still_accepted_and_codes_are_read_as_typed(api, uow_factory):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子", external_id="C-1")
        stores.upsert_store(uow=uow, code="SHIBUYA", name="渋谷店")
        stores.close_store(uow=uow, code="SHIBUYA")
        uow.commit()
    body = {"external_id": "POS-LATE", "customer_id": customer.id, "store_code": "shibuya", "total": 1000}
    late = api.post("/purchases", json=body)
    assert late.status_code == 201, late.json

    unknown = api.post("/purchases", json={**body, "external_id": "POS-2", "store_code": "shinjuku"})
    assert_error(unknown, 404)
    assert unknown.json["error"]["message"] == "No store with the code SHINJUKU."
    malformed = api.post("/purchases", json={**body, "external_id": "POS-3", "store_code": "渋谷"})
    assert_error(malformed, 422)
    assert "A store code has 1 to 32 letters" in malformed.json["error"]["message"]
    with uow_factory() as uow:
        assert len(uow.session.exec(select(Purchase)).all()) == 1
