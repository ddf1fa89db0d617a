"""POST /purchases, refunds and points over the REST API, with receipts on LINE."""

from __future__ import annotations

import pytest
from sqlmodel import select

from crm_core import cards, channels, customers, membership, points
from crm_core.models import OutboxMessage, Store


@pytest.fixture
def shop(uow_factory):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子", external_id="C-1")
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        uow.commit()
        return customer


def _purchase(api, **fields):
    body = {"external_id": "POS-1", "customer_id": fields.pop("customer_id", None), "store_code": "SHIBUYA",
            "total": 3240, **fields}  # fmt: skip
    return api.post("/purchases", json={k: v for k, v in body.items() if v is not None})


def test_purchase_grants_points_once(api, shop):
    first = _purchase(api, customer_id=shop.id)
    assert first.status_code == 201
    assert first.json["points_earned"] == 32 and first.json["points_balance"] == 32
    again = _purchase(api, customer_id=shop.id)
    assert again.status_code == 200 and again.json == first.json
    assert api.get(f"/customers/{shop.id}").json["points_balance"] == 32


def test_purchase_by_member_number_and_by_card_code(api, shop, settings, clock):
    by_number = _purchase(api, external_id="POS-2", card_code=shop.member_number)
    assert by_number.status_code == 201
    code = cards.issue(secret=settings.secret_key, purpose=cards.CARD, customer_id=shop.id, now=clock.now())
    assert _purchase(api, external_id="POS-3", card_code=code).status_code == 201
    clock.advance(minutes=6)
    expired = _purchase(api, external_id="POS-4", card_code=code)
    assert expired.status_code == 422 and expired.json["error"]["code"] == "expired_card"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"total": -1}, 422),
        ({"total": "3240"}, 400),
        ({"store_code": "NOPE"}, 404),
        ({"customer_id": 999999}, 404),
        ({"occurred_at": "2026-11-22 10:00"}, 400),
        ({"items": [{"sku": "A", "name": "a", "quantity": 1, "unit_price": 100}]}, 422),
        ({"surprise": 1}, 400),
    ],
)
def test_bad_purchases_change_nothing(api, shop, change, status):
    body = {"customer_id": shop.id, **change}
    response = _purchase(api, **body)
    assert response.status_code == status, response.json
    assert "error" in response.json
    assert api.get(f"/customers/{shop.id}").json["points_balance"] == 0


def test_items_and_refunds(api, shop):
    items = [
        {"sku": "BEAN-001", "name": "ブラジル", "category": "豆", "quantity": 2, "unit_price": 1480},
        {"sku": "DRINK-001", "name": "ドリップ", "quantity": 1, "unit_price": 280},
    ]
    created = _purchase(api, customer_id=shop.id, items=items).json
    assert created["points_earned"] == 32
    detail = api.get(f"/purchases/{created['id']}").json
    assert [i["sku"] for i in detail["items"]] == ["BEAN-001", "DRINK-001"]
    refund = api.post("/refunds", json={"external_id": "R-1", "purchase_external_id": "POS-1", "amount": 1480})
    assert refund.status_code == 201
    assert refund.json["points_reversed"] == 15 and refund.json["points_balance"] == 17
    assert (
        api.post("/refunds", json={"external_id": "R-1", "purchase_id": created["id"], "amount": 1480}).status_code
        == 200
    )
    too_much = api.post("/refunds", json={"external_id": "R-2", "purchase_id": created["id"], "amount": 5000})
    assert too_much.status_code == 422
    points = api.get(f"/customers/{shop.id}/points").json
    assert points["points_balance"] == 17 and points["tier"] == "regular"
    listing = api.get(f"/customers/{shop.id}/purchases").json
    assert listing["items"][0]["refunded_total"] == 1480


def test_receipt_goes_to_line_unless_blocked(api, shop, line, uow_factory, services):
    line_user_id = line.add_user("山田 花子")
    line.follow(line_user_id)
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address=line_user_id)
        identity.followed = True
        channels.record_consent(uow=uow, identity=identity, notice_version="v")
        membership._attach(uow=uow, identity=identity, customer=customers.get_customer(uow=uow, customer_id=shop.id))
        uow.commit()
    _purchase(api, customer_id=shop.id)
    services.pump.wait_idle()
    (receipt,) = line.messages_to(line_user_id)
    assert "¥3,240" in receipt["text"] and "32" in receipt["text"]
    with uow_factory() as uow:
        channels.record_unfollow(uow=uow, identity=channels.get_identity(uow=uow, address=line_user_id))
        uow.commit()
    blocked = _purchase(api, customer_id=shop.id, external_id="POS-9")
    assert blocked.status_code == 201  # blocking is about LINE only: the purchase and points go on
    services.pump.wait_idle()
    assert len(line.messages_to(line_user_id)) == 1
    with uow_factory() as uow:
        assert len(uow.session.exec(select(OutboxMessage)).all()) == 1


def test_the_same_refund_id_with_another_amount_is_a_409_and_changes_nothing(api, shop):
    created = _purchase(api, customer_id=shop.id).json
    first = api.post("/refunds", json={"external_id": "R-1", "purchase_id": created["id"], "amount": 1480})
    assert first.status_code == 201
    other = api.post("/refunds", json={"external_id": "R-1", "purchase_id": created["id"], "amount": 1000})
    assert other.status_code == 409
    assert other.json["error"]["code"] == "conflict" and other.json["error"]["message"]
    second = _purchase(api, customer_id=shop.id, external_id="POS-2").json
    elsewhere = api.post("/refunds", json={"external_id": "R-1", "purchase_id": second["id"], "amount": 1480})
    assert elsewhere.status_code == 409
    assert api.get(f"/purchases/{created['id']}").json["refunded_total"] == 1480
    assert api.get(f"/purchases/{second['id']}").json["refunded_total"] == 0
    assert api.get(f"/customers/{shop.id}/points").json["points_balance"] == first.json["points_balance"] + 32


def test_the_same_refund_again_answers_the_same_also_when_the_points_were_already_used(api, shop, uow_factory):
    created = _purchase(api, customer_id=shop.id).json  # 32 points
    with uow_factory() as uow:
        points.spend(uow=uow, customer_id=shop.id, amount=30, idempotency_key="used")
        uow.commit()
    body = {"external_id": "R-1", "purchase_id": created["id"], "amount": 3240}
    first = api.post("/refunds", json=body)
    assert (first.status_code, first.json["points_reversed"], first.json["points_not_reversed"]) == (201, 2, 30)
    again = api.post("/refunds", json=body)
    assert (again.status_code, again.json) == (200, first.json)


def test_a_refund_below_the_tiers_minimum_moves_the_customer_down_at_once(api, shop):
    created = _purchase(api, customer_id=shop.id, total=30_000).json
    before = api.get(f"/customers/{shop.id}/points").json
    assert (before["tier"], before["rolling_12_month_spend"]) == ("silver", 30_000)
    refund = api.post("/refunds", json={"external_id": "R-1", "purchase_id": created["id"], "amount": 1})
    assert refund.status_code == 201
    after = api.get(f"/customers/{shop.id}/points").json
    assert (after["tier"], after["rolling_12_month_spend"]) == ("regular", 29_999)
    assert after["next_tier"] == {"name": "silver", "missing": 1}
