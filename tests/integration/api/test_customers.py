"""REST API: tokens, customers, stores, JSON errors and paging."""

from __future__ import annotations

import base64

import pytest
from sqlmodel import func, select

from crm_core import channels, customers, membership
from crm_core.models import ApiToken, Customer

LINE_USER = "U" + "0123456789abcdef" * 2
BODY = {
    "external_id": "POS-1001",
    "name": "山田 花子",
    "name_kana": "ヤマダ ハナコ",
    "birth_date": "1990-04-01",
    "phone": "090-1234-5678",
    "email": "hanako@example.jp",
    "locale": "ja",
}


def assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code


def count_customers(uow_factory) -> int:
    with uow_factory() as uow:
        return uow.session.exec(select(func.count()).select_from(Customer)).one()


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer kzn_not-a-token", "Basic dXNlcjpwYXNz", "kzn_x"])
def test_without_a_valid_token_the_api_answers_401(client, token, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/stores", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused_and_a_used_token_records_its_use(client, token, api, uow_factory, clock):
    assert api.get("/stores").status_code == 200
    with uow_factory() as uow:
        stored = uow.session.exec(select(ApiToken)).one()
        assert stored.last_used_at == clock.now()
        stored.revoked_at = clock.now()
        uow.commit()
    assert_error(api.get("/stores"), 401)


def test_create_then_update_by_external_id(api, uow_factory):
    created = api.post("/customers", json=BODY)
    assert created.status_code == 201
    customer = created.get_json()
    assert customer["external_id"] == "POS-1001" and customer["name"] == "山田 花子"
    assert created.headers["Location"].endswith(f"/api/v1/customers/{customer['id']}")

    again = api.post("/customers", json=BODY)
    assert again.status_code == 200
    assert again.get_json() == customer, "the same body twice is the same customer"

    updated = api.post("/customers", json={"external_id": "POS-1001", "phone": None, "locale": "en"})
    assert updated.status_code == 200
    assert updated.get_json()["locale"] == "en" and updated.get_json()["name"] == "山田 花子"
    assert count_customers(uow_factory) == 1
    with uow_factory() as uow:
        stored = uow.session.get(Customer, customer["id"])
        assert stored.phone is None and stored.birth_date.isoformat() == "1990-04-01"


def test_get_customer_has_the_documented_fields(api):
    customer_id = api.post("/customers", json=BODY).get_json()["id"]
    body = api.get(f"/customers/{customer_id}").get_json()
    assert set(body) >= {
        "id",
        "external_id",
        "name",
        "line_user_id",
        "points_balance",
        "tier",
        "consented",
        "blocked",
        "marketing_opt_out",
        "member_number",
        "locale",
        "created_at",
    }
    assert body["points_balance"] == 0 and body["consented"] is False and body["blocked"] is False


def test_lookup_by_line_user_id(api, uow_factory):
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address=LINE_USER)
        channels.record_follow(uow=uow, identity=identity, unblocked=False)
        channels.record_consent(uow=uow, identity=identity, notice_version="2026-11")
        customer = membership.register_new_member(uow=uow, identity=identity, name="LINE Member")
        channels.record_unfollow(uow=uow, identity=identity)
        uow.commit()
        customer_id = customer.id

    found = api.get("/customers", query_string={"line_user_id": LINE_USER}).get_json()
    assert found["next"] is None
    assert [item["id"] for item in found["items"]] == [customer_id]
    assert found["items"][0]["line_user_id"] == LINE_USER
    assert found["items"][0]["consented"] is True and found["items"][0]["blocked"] is True

    none = api.get("/customers", query_string={"line_user_id": "U" + "f" * 32})
    assert none.status_code == 200 and none.get_json() == {"items": [], "next": None}


def test_unknown_customer_is_404_and_erased_is_410(api, uow_factory, clock):
    assert_error(api.get("/customers/999999"), 404, "not_found")
    customer_id = api.post("/customers", json=BODY).get_json()["id"]
    with uow_factory() as uow:
        uow.session.get(Customer, customer_id).erased_at = clock.now()
        uow.commit()
    assert_error(api.get(f"/customers/{customer_id}"), 410, "erased")
    assert_error(api.post("/customers", json=BODY), 410, "erased")


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2]", b'"text"', '{"name": "\xe5"}'.encode("latin-1")],
)
def test_malformed_json_is_400(api, data):
    assert_error(api.post("/customers", data=data, content_type="application/json"), 400, "bad_json")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": 42}, "invalid_field"),
        ({"external_id": ["POS"]}, "invalid_field"),
        ({"birth_date": "1990/04/01"}, "invalid_field"),
        ({"birth_date": "1990-02-30"}, "invalid_field"),
        ({"birth_date": 19900401}, "invalid_field"),
        ({"locale": "fr"}, "invalid_field"),
        ({"name": None}, "invalid_field"),
        ({"phone": "0" * 41}, "invalid_field"),
        ({"points": 100}, "unknown_field"),
        ({"external_id": ""}, "invalid_field"),
        ({"consented": True}, "unknown_field"),
    ],
)
def test_wrong_fields_are_400_and_nothing_is_stored(api, uow_factory, change, code):
    assert_error(api.post("/customers", json={**BODY, **change}), 400, code)
    assert count_customers(uow_factory) == 0


def test_missing_name_on_create_is_422(api):
    assert_error(api.post("/customers", json={"external_id": "POS-9"}), 422, "invalid")


def test_a_body_that_is_not_json_is_415(api):
    assert_error(
        api.post("/customers", data="external_id=POS-1", content_type="application/x-www-form-urlencoded"), 415
    )


def test_unknown_routes_and_methods_under_the_api_answer_json(client, api):
    assert_error(api.get("/purchases-nope"), 404, "not_found")
    assert_error(client.get("/api/v1/nothing/here"), 404, "not_found")
    assert_error(api.get("/customers/not-a-number"), 404)
    assert_error(client.delete("/api/v1/customers", headers=api.headers), 405, "method_not_allowed")
    other = client.get("/no-such-page")
    assert other.status_code == 404 and not other.is_json, "other paths keep their own error pages"


def test_cursor_paging_over_120_customers(api, uow_factory):
    with uow_factory() as uow:
        for number in range(120):
            customers.create_customer(uow=uow, name=f"Customer {number:03d}", external_id=f"E{number}")
        uow.commit()
    seen, cursor, pages = [], None, 0
    while True:
        query = {"q": "Customer", **({"cursor": cursor} if cursor else {})}
        page = api.get("/customers", query_string=query).get_json()
        seen += [item["name"] for item in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
        assert base64.urlsafe_b64decode(cursor + "==").decode().isdigit()
    assert pages == 3
    assert seen == [f"Customer {number:03d}" for number in range(120)]

    small = api.get("/customers", query_string={"limit": 7}).get_json()
    assert len(small["items"]) == 7 and small["next"]
    assert_error(api.get("/customers", query_string={"cursor": "!!nope"}), 400, "invalid_cursor")
    assert_error(api.get("/customers", query_string={"limit": 0}), 400)


def test_ids_and_cursors_out_of_range_are_not_a_server_error(api):
    assert_error(api.get("/customers/" + "9" * 30), 404)
    huge = base64.urlsafe_b64encode(b"9" * 18).decode()
    assert api.get("/customers", query_string={"cursor": huge}).get_json() == {"items": [], "next": None}
