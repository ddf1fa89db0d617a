"""A member shows the point card on LINE, the till or the POS credits a purchase, a receipt arrives."""

from __future__ import annotations

from datetime import timedelta

from bot.simulator.limits import json_size
from crm_core import api_tokens, cards, coupons, customers, loyalty
from crm_core.models import CustomerCoupon, Store
from tests.e2e.conftest import texts


def _member(chat):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    hanako.tap("action=register_new")
    return hanako


def _card_code(card: dict) -> str:
    url = card["contents"]["hero"]["url"]
    return url.rsplit("/", 1)[1].removesuffix(".png")


def test_point_card_shows_balance_and_a_fresh_signed_qr_code(chat, live_app, settings, clock):
    hanako = _member(chat)
    (card,) = hanako.say("ポイント")
    assert card["type"] == "flex"
    shown = texts([card])
    assert "ポイントカード" in shown and "有効" in shown
    code = _card_code(card)
    assert card["contents"]["hero"]["url"].startswith("https://kizuna.test/card/")
    client = live_app.test_client()
    image = client.get(f"/card/{code}.png")
    assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    (refreshed,) = hanako.tap("action=points")
    assert refreshed["type"] == "flex"
    clock.advance(minutes=6)
    assert client.get(f"/card/{code}.png").status_code == 404  # a screenshot is useless later


def test_pos_purchase_by_card_code_sends_a_receipt_and_history_shows_it(
    chat, live_app, uow_factory, settings, clock, settle
):
    hanako = _member(chat)
    with uow_factory() as uow:
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        _, token = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    code = _card_code(hanako.say("ポイント")[0])
    response = live_app.test_client().post(
        "/api/v1/purchases",
        json={"external_id": "POS-1", "card_code": code, "store_code": "SHIBUYA", "total": 3240},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.json
    settle()
    receipt = texts(hanako.new_messages())
    assert "¥3,240" in receipt and "32" in receipt and "渋谷店" in receipt
    history = texts(hanako.say("履歴"))
    assert "¥3,240" in history and "+32" in history
    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        assert cards.read(secret=settings.secret_key, purpose=cards.CARD, code=code, now=clock.now()) == customer.id


def test_history_shows_a_cancelled_purchase_as_cancelled_and_a_partly_refunded_one_with_what_remains(
    chat, live_app, uow_factory, settle
):
    hanako = _member(chat)
    with uow_factory() as uow:
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        _, token = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    client = live_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    code = _card_code(hanako.say("ポイント")[0])
    for external_id in ("POS-1", "POS-2"):
        body = {"external_id": external_id, "card_code": code, "store_code": "SHIBUYA", "total": 3240}
        assert client.post("/api/v1/purchases", json=body, headers=headers).status_code == 201
    for external_id, purchase, amount in (("R-1", "POS-1", 3240), ("R-2", "POS-2", 1240)):
        body = {"external_id": external_id, "purchase_external_id": purchase, "amount": amount}
        assert client.post("/api/v1/refunds", json=body, headers=headers).status_code == 201
    settle()
    told = texts(hanako.new_messages())
    assert "返金しました" in told and "ポイント残高：20 pt" in told

    history = texts(hanako.say("履歴"))

    assert "¥3,240 取消" in history
    assert "¥2,000（+20 pt、¥1,240 返品）" in history
    assert "¥0" not in history and "+32" not in history


def test_a_stamp_card_with_120_open_rewards_still_reaches_line(chat, uow_factory, clock, line):
    """One row per reward made a 37 KB bubble LINE refuses: the card shows the 5 soonest to expire and a count."""
    hanako = _member(chat)
    with uow_factory() as uow:
        loyalty.save_program(uow=uow, program=loyalty.Program(mode="stamps", stamp_goal=10))
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        for n in range(120):
            spec = coupons.CouponSpec(
                title=f"ドリンク1杯無料 #{n}", benefit_kind="gift", benefit_item="drink", valid_days=300, obtain="flow"
            )
            coupon = coupons.define_coupon(uow=uow, spec=spec)
            uow.session.add(
                CustomerCoupon(
                    code=f"RW{n:04d}", coupon_id=coupon.id, customer_id=customer.id, seq=1, obtained_by="stamps",
                    idempotency_key=f"test:{n}", issued_at=uow.now(), expires_at=uow.now() + timedelta(days=200 - n),
                )
            )  # fmt: skip
        uow.commit()
    (card,) = hanako.say("ポイント")
    assert line.invalid_requests == []
    shown = texts([card])
    assert shown.count("ドリンク1杯無料") == 5
    assert all(f"#{n}" in shown for n in range(115, 120))  # the soonest to expire
    assert "ほか115件の特典" in shown
    assert json_size(card["contents"]) < 30_000
