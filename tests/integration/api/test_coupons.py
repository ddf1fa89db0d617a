"""The coupon endpoints of PRODUCT.md: shapes that match the OpenAPI document, and every refusal."""

from __future__ import annotations

import jsonschema
import pytest

from bot.api.openapi import DOCUMENT
from crm_core import api_tokens, customers
from crm_core.models import Store


def _shape(name: str, instance) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


@pytest.fixture
def shop(uow_factory):
    with uow_factory() as uow:
        hanako = customers.create_customer(uow=uow, name="山田 花子", external_id="C-1")
        taro = customers.create_customer(uow=uow, name="佐藤 太郎", external_id="C-2")
        uow.session.add_all(
            [
                Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()),
                Store(code="SHINJUKU", name="新宿店", created_at=uow.now()),
            ]
        )
        uow.commit()
        return hanako.id, taro.id


def _define(api, **fields):
    body = {"title": "300円引き", "benefit": {"kind": "yen_off", "value": 300}, "stock": 100,
            "per_customer_limit": 1, "valid_days": 7, **fields}  # fmt: skip
    response = api.post("/coupons", json=body)
    assert response.status_code == 201, response.json
    return response.json


def _error(response, status: int, code: str) -> None:
    assert (response.status_code, response.json["error"]["code"]) == (status, code), response.json
    _shape("Error", response.json)


def test_define_list_issue_and_redeem_as_product_md_says(api, shop):
    hanako, _taro = shop
    coupon = _define(api, benefit={"kind": "percent_off", "value": 10, "cap": 500}, store_codes=["shibuya"])
    _shape("Coupon", coupon)
    assert coupon["benefit"] == {"kind": "percent_off", "value": 10, "cap": 500, "item": None}
    assert (coupon["stock"], coupon["issued"], coupon["store_codes"]) == (100, 0, ["SHIBUYA"])

    listed = api.get("/coupons")
    assert listed.status_code == 200 and listed.json == {"items": [coupon], "next": None}

    issued = api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako})
    assert issued.status_code == 201
    _shape("CustomerCoupon", issued.json)
    assert issued.json["expires_at"] == "2026-11-28T15:00:00+00:00"  # midnight in Tokyo after 7 days with today

    redeemed = api.post("/coupons/redeem", json={"code": issued.json["code"], "store_code": "SHIBUYA", "total": 3249})
    assert redeemed.status_code == 200
    _shape("Redemption", redeemed.json)
    assert (redeemed.json["status"], redeemed.json["discount"], redeemed.json["store_code"]) == (
        "redeemed",
        324,
        "SHIBUYA",
    )
    assert api.get("/coupons").json["items"][0]["issued"] == 1


def test_the_same_idempotency_key_answers_the_same_coupon(api, shop):
    hanako, _taro = shop
    coupon = _define(api, per_customer_limit=None)
    first = api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako, "idempotency_key": "k-1"})
    again = api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako, "idempotency_key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200) and again.json == first.json
    other = api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako})
    assert other.status_code == 201 and other.json["code"] != first.json["code"]


def test_issue_refusals(api, shop):
    hanako, taro = shop
    coupon = _define(api, stock=1)
    assert api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako}).status_code == 201
    _error(api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako}), 409, "limit_reached")
    _error(api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": taro}), 409, "sold_out")
    _error(api.post("/coupons/999/issue", json={"customer_id": taro}), 404, "not_found")
    _error(api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": 99999}), 404, "not_found")
    _error(api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": "1"}), 400, "invalid_field")
    _error(api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": taro, "x": 1}), 400, "unknown_field")


def test_redeem_refusals_each_with_its_reason(api, shop, clock):
    hanako, taro = shop
    coupon = _define(api, per_customer_limit=None, store_codes=["SHIBUYA"], minimum_purchase=2000)

    def issue():
        return api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako}).json["code"]

    def redeem(code, **fields):
        return api.post("/coupons/redeem", json={"code": code, "store_code": "SHIBUYA", "total": 3000, **fields})

    code = issue()
    _error(redeem(code, customer_id=taro), 409, "not_this_customer")
    _error(redeem(code, store_code="SHINJUKU"), 409, "not_this_store")
    below = redeem(code, total=1999)
    _error(below, 409, "minimum_not_met")
    assert below.json["error"]["message"] == "This coupon needs a purchase of at least ¥2,000."
    assert redeem(code, customer_id=hanako).json["discount"] == 300
    _error(redeem(code), 409, "already_used")
    _error(redeem("NOSUCHCODE12"), 404, "not_found")
    _error(redeem(issue(), store_code="NOPE"), 404, "not_found")
    late = issue()
    clock.advance(days=7)
    _error(redeem(late), 409, "expired")


def test_redeemed_with_a_purchase_of_this_store(api, shop):
    hanako, _taro = shop
    coupon = _define(api, benefit={"kind": "yen_off", "value": 500})
    code = api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako}).json["code"]
    sale = {"external_id": "POS-1", "customer_id": hanako, "store_code": "SHIBUYA", "total": 400}
    assert api.post("/purchases", json=sale).status_code == 201
    elsewhere = api.post(
        "/coupons/redeem", json={"code": code, "store_code": "SHINJUKU", "purchase_external_id": "POS-1"}
    )
    _error(elsewhere, 404, "not_found")
    done = api.post("/coupons/redeem", json={"code": code, "store_code": "SHIBUYA", "purchase_external_id": "POS-1"})
    assert done.status_code == 200 and done.json["discount"] == 400  # never more than the total


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"benefit": {"kind": "percent_off", "value": 120}}, 422, "benefit.value"),
        ({"benefit": {"kind": "free_item"}}, 422, "benefit.item"),
        ({"benefit": {"kind": "cashback", "value": 1}}, 422, "benefit.kind"),
        ({"title": ""}, 422, "title"),
        ({"stock": -1}, 422, "stock"),
        ({"valid_days": None}, 422, "valid_days"),
        ({"store_codes": ["NOPE"]}, 422, "store_codes"),
        ({"valid_until": "2026-13-01"}, 400, "valid_until"),
        ({"benefit": "300"}, 400, "benefit"),
        ({"benefit": {"kind": "yen_off", "value": 1, "x": 2}}, 400, "benefit.x"),
        ({"surprise": 1}, 400, "surprise"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_field(api, shop, change, status, named):
    body = {"title": "t", "benefit": {"kind": "yen_off", "value": 300}, "valid_days": 7, **change}
    response = api.post("/coupons", json=body)
    assert response.status_code == status and named in response.json["error"]["message"], response.json
    assert api.get("/coupons").json["items"] == []


def test_coupon_scopes_and_a_store_token(client, uow_factory, shop):
    hanako, _taro = shop

    def token(*scopes, store=None):
        with uow_factory() as uow:
            _, raw = api_tokens.create_token(uow=uow, name=f"T{scopes}{store}", scopes=list(scopes), store_code=store)
            uow.commit()
        return {"Authorization": f"Bearer {raw}"}

    admin = token("coupons:read", "coupons:write")
    coupon = client.post(
        "/api/v1/coupons",
        headers=admin,
        json={"title": "t", "benefit": {"kind": "gift", "item": "花"}, "valid_days": 3},
    )
    assert coupon.status_code == 201
    code = client.post(f"/api/v1/coupons/{coupon.json['id']}/issue", headers=admin, json={"customer_id": hanako}).json[
        "code"
    ]
    assert (
        client.post("/api/v1/coupons/redeem", headers=admin, json={"code": code, "store_code": "SHIBUYA"}).status_code
        == 403
    )
    till = token(store="SHIBUYA")  # a store's token may redeem there, and nowhere else
    assert client.get("/api/v1/coupons", headers=till).status_code == 403
    other = client.post("/api/v1/coupons/redeem", headers=till, json={"code": code, "store_code": "SHINJUKU"})
    assert other.status_code == 403
    done = client.post("/api/v1/coupons/redeem", headers=till, json={"code": code, "store_code": "SHIBUYA"})
    assert done.status_code == 200 and done.json["discount"] == 0


def test_a_coupon_may_choose_its_code_format(api, shop):
    hanako, _taro = shop
    coupon = _define(api, code_format={"prefix": "kz", "alphabet": "digits", "length": 8})
    _shape("Coupon", coupon)
    assert coupon["code_format"] == {"prefix": "KZ", "alphabet": "digits", "length": 8}
    assert _define(api)["code_format"] == {"prefix": "", "alphabet": "mixed", "length": 12}

    issued = api.post(f"/coupons/{coupon['id']}/issue", json={"customer_id": hanako}).json
    assert issued["code"].startswith("KZ") and issued["code"][2:].isdigit() and len(issued["code"]) == 10
    redeemed = api.post("/coupons/redeem", json={"code": "kz-" + issued["code"][2:], "store_code": "SHIBUYA"})
    assert redeemed.status_code == 200, redeemed.json

    refused = api.post("/coupons", json={"title": "x", "benefit": {"kind": "yen_off", "value": 1}, "valid_days": 1,
                                         "code_format": {"prefix": "IO", "length": 4}})  # fmt: skip
    _error(refused, 422, "invalid_field")
    assert "code_format.prefix" in refused.json["error"]["message"]
    assert "code_format.length" in refused.json["error"]["message"]
    _error(api.post("/coupons", json={"title": "x", "benefit": {"kind": "yen_off", "value": 1}, "valid_days": 1,
                                      "code_format": {"size": 9}}), 400, "unknown_field")  # fmt: skip
