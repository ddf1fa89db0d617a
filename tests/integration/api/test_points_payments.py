"""Paying with points through the API: the card's live QR code is needed, refunds give the points back,
and purchase dates out of range are refused with a reason."""

from __future__ import annotations

import pytest

from crm_core import cards, channels, customers, membership, points
from crm_core.models import Store


@pytest.fixture
def shop(uow_factory):
    """A member with 500 points, and a store."""
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子", external_id="C-1")
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        points.grant(uow=uow, customer_id=customer.id, amount=500, idempotency_key="welcome")
        uow.commit()
        return customer


@pytest.fixture
def card(settings, clock, shop):
    return cards.issue(secret=settings.secret_key, purpose=cards.CARD, customer_id=shop.id, now=clock.now())


def _purchase(api, **fields):
    body = {"external_id": "POS-1", "store_code": "SHIBUYA", "total": 3240, **fields}
    return api.post("/purchases", json=body)


def _balance(api, shop) -> int:
    return api.get(f"/customers/{shop.id}").json["points_balance"]


def test_paying_with_points_by_the_cards_qr_code(api, shop, card):
    first = _purchase(api, card_code=card, points_used=300)
    again = _purchase(api, card_code=card, points_used=300)

    assert first.status_code == 201
    assert first.json == {"id": first.json["id"], "points_earned": 29, "points_used": 300, "points_balance": 229}
    assert again.status_code == 200 and again.json == first.json
    assert _balance(api, shop) == 229
    other = _purchase(api, card_code=card, points_used=100)
    assert other.status_code == 409 and other.json["error"]["code"] == "conflict"
    detail = api.get(f"/purchases/{first.json['id']}").json
    assert detail["points_used"] == 300


def test_not_enough_points_is_a_409_and_records_nothing(api, shop, card):
    response = _purchase(api, card_code=card, points_used=501)

    assert response.status_code == 409
    assert response.json["error"] == {"code": "insufficient_points", "message": "Not enough points: 500 available."}
    assert api.get(f"/customers/{shop.id}/purchases").json["items"] == []
    assert _balance(api, shop) == 500


@pytest.mark.parametrize("points_used", [-1, 3241])
def test_points_used_out_of_range_is_a_422(api, shop, card, points_used):
    response = _purchase(api, card_code=card, points_used=points_used)

    assert response.status_code == 422 and "Points used" in response.json["error"]["message"]
    assert _balance(api, shop) == 500


def test_a_member_number_or_a_customer_id_alone_cannot_spend_points(api, shop):
    for who in ({"card_code": shop.member_number}, {"customer_id": shop.id}):
        refused = _purchase(api, points_used=100, **who)
        assert refused.status_code == 403
        assert refused.json["error"]["code"] == "card_required"
        assert "point card" in refused.json["error"]["message"]
    assert _balance(api, shop) == 500
    earned = _purchase(api, card_code=shop.member_number, points_used=0)
    assert earned.status_code == 201 and earned.json["points_balance"] == 532


def test_refunds_give_back_the_points_used_and_everything_refunded_leaves_the_balance_as_before(api, shop, card):
    _purchase(api, card_code=card, points_used=300)  # earns 29
    _purchase(api, external_id="POS-2", card_code=card, total=1000, points_used=100)  # earns 9
    assert _balance(api, shop) == 500 - 300 + 29 - 100 + 9

    half = api.post("/refunds", json={"external_id": "R-1", "purchase_external_id": "POS-1", "amount": 1620})
    assert half.status_code == 201
    assert (half.json["points_returned"], half.json["points_reversed"]) == (150, 29 - 14)
    rest = [
        api.post("/refunds", json={"external_id": "R-2", "purchase_external_id": "POS-2", "amount": 1000}),
        api.post("/refunds", json={"external_id": "R-3", "purchase_external_id": "POS-1", "amount": 1620}),
    ]
    assert [r.status_code for r in rest] == [201, 201]
    assert rest[0].json["points_returned"] == 100 and rest[1].json["points_returned"] == 150
    assert _balance(api, shop) == 500
    listing = api.get(f"/customers/{shop.id}/purchases").json["items"]
    assert [r["points_returned"] for r in listing[1]["refunds"]] == [150, 150]


@pytest.mark.parametrize(
    ("occurred_at", "reason"),
    [
        ("0001-01-01T00:00:00+09:00", "The purchase time is too long ago."),
        ("9999-12-31T23:59:59-12:00", "The purchase time is in the future."),
        ("2025-11-01T10:00:00+09:00", "This purchase is older than its points would be valid"),
    ],
)
def test_purchase_dates_out_of_range_are_a_422_with_the_reason(api, shop, occurred_at, reason):
    response = _purchase(api, customer_id=shop.id, occurred_at=occurred_at)

    assert response.status_code == 422
    assert reason in response.json["error"]["message"]
    assert _balance(api, shop) == 500


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-12:00"])
def test_refund_dates_out_of_range_are_a_422(api, shop, occurred_at):
    _purchase(api, customer_id=shop.id)
    body = {"external_id": "R-1", "purchase_external_id": "POS-1", "amount": 100, "occurred_at": occurred_at}
    response = api.post("/refunds", json=body)

    assert response.status_code == 422 and "between its purchase and now" in response.json["error"]["message"]
    assert _balance(api, shop) == 532


def test_a_refund_tells_the_customer_on_line_once(api, shop, card, line, uow_factory, services):
    line_user_id = line.add_user("山田 花子")
    line.follow(line_user_id)
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address=line_user_id)
        identity.followed = True
        channels.record_consent(uow=uow, identity=identity, notice_version="v")
        membership._attach(uow=uow, identity=identity, customer=customers.get_customer(uow=uow, customer_id=shop.id))
        uow.commit()
    _purchase(api, card_code=card, points_used=300)
    services.pump.wait_idle()
    body = {"external_id": "R-1", "purchase_external_id": "POS-1", "amount": 1620}
    assert api.post("/refunds", json=body).status_code == 201
    assert api.post("/refunds", json=body).status_code == 200
    services.pump.wait_idle()

    receipt, refunded = (m["text"] for m in line.messages_to(line_user_id))
    assert "¥3,240" in receipt
    assert "¥1,620" in refunded and "150 pt" in refunded and "15 pt" in refunded
    assert f"{500 - 300 + 29 + 150 - 15} pt" in refunded
