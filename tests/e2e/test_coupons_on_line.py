"""クーポン on LINE: claim, exchange points, draw a lottery, show one at the till; the POS redeems it."""

from __future__ import annotations

from sqlmodel import select

from crm_core import api_tokens, coupons, customers, loyalty, points, purchases
from crm_core.models import Store
from tests.e2e.conftest import postback_data, texts


def _member(chat):
    hanako = chat("山田 花子")
    hanako.follow()
    hanako.tap("action=consent&v=2026-11")
    hanako.tap("action=register_new")
    return hanako


def _define(uow_factory, **fields) -> int:
    spec = coupons.CouponSpec(**{"benefit_kind": "yen_off", "benefit_value": 300, "valid_days": 7, **fields})
    with uow_factory() as uow:
        coupon = coupons.define_coupon(uow=uow, spec=spec)
        uow.commit()
        return coupon.id


def _qr_code(coupon_message: dict) -> str:
    return coupon_message["contents"]["hero"]["url"].rsplit("/", 1)[1].removesuffix(".png")


def test_claim_show_and_redeem_a_coupon_at_the_pos(chat, live_app, uow_factory, clock):
    hanako = _member(chat)
    claim = _define(uow_factory, title="300円引きクーポン", min_purchase=1000)
    _define(uow_factory, title="フロー専用", obtain="flow")
    with uow_factory() as uow:
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        _, token = api_tokens.create_token(uow=uow, name="POS", store_code="SHIBUYA")
        uow.commit()

    (carousel,) = hanako.say("クーポン")
    assert carousel["contents"]["type"] == "carousel"
    shown = texts([carousel])
    assert "300円引きクーポン" in shown and "¥300引き" in shown and "フロー専用" not in shown
    assert postback_data([carousel]) == [f"action=coupon_get&coupon={claim}"]

    (coupon,) = hanako.tap(f"action=coupon_get&coupon={claim}")
    shown = texts([coupon])
    assert "レジでこの画面をお見せください" in shown and "2026年11月28日(土)まで有効" in shown
    qr = _qr_code(coupon)
    client = live_app.test_client()
    image = client.get(f"/coupon/{qr}.png")
    assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"

    again = texts(hanako.tap(f"action=coupon_get&coupon={claim}"))  # a new tap, not LINE's redelivery
    assert "お一人様の上限までお持ちです" in again
    (carousel,) = hanako.say("クーポン")
    assert postback_data([carousel]) == ["action=coupon_open&id=1"] and "保有中" in texts([carousel])

    pos = {"Authorization": f"Bearer {token}"}
    redeemed = client.post(
        "/api/v1/coupons/redeem", headers=pos, json={"code": qr, "store_code": "SHIBUYA", "total": 3240}
    )
    assert redeemed.status_code == 200, redeemed.json
    assert redeemed.json["discount"] == 300
    assert "使用済み" in texts(hanako.tap("action=coupon_open&id=1"))
    clock.advance(minutes=6)
    assert client.get(f"/coupon/{qr}.png").status_code == 404  # a screenshot is useless later


def test_points_exchange_and_lottery_on_line(chat, uow_factory):
    hanako = _member(chat)
    exchange = _define(uow_factory, title="ドリンク券", benefit_kind="free_item", benefit_item="コーヒー",
                       obtain="points", points_cost=300)  # fmt: skip
    lottery = _define(uow_factory, title="抽選クーポン", obtain="lottery", win_basis_points=0)
    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        points.grant(uow=uow, customer_id=customer.id, amount=500, idempotency_key="welcome")
        uow.commit()

    (card,) = hanako.say("ポイント")  # the point card leads to the exchange
    assert "ポイントをクーポンに交換" in texts([card]) and "300ポイントから" in texts([card])
    assert "action=coupons" in postback_data(card)
    (carousel,) = hanako.tap("action=coupons")
    assert "300ポイントと交換" in texts([carousel]) and "抽選で当たるクーポンです" in texts([carousel])
    assert "無料: コーヒー" in texts(hanako.tap(f"action=coupon_get&coupon={exchange}"))
    assert "ポイントが足りません" in texts(hanako.tap(f"action=coupon_get&coupon={exchange}"))
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer.id) == 200
    assert "ハズレ" in texts(hanako.tap(f"action=coupon_get&coupon={lottery}"))
    assert "上限" in texts(hanako.tap(f"action=coupon_get&coupon={lottery}"))  # one draw per person
    assert "現在ご利用いただけません" in texts(hanako.tap("action=coupon_get&coupon=999"))


def test_a_full_stamp_card_s_reward_is_in_the_coupon_carousel(chat, uow_factory, clock):
    hanako = _member(chat)
    reward = _define(
        uow_factory, title="ドリンク1杯無料", benefit_kind="free_item", benefit_item="ドリンク", obtain="flow"
    )
    with uow_factory() as uow:
        uow.session.add(store := Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        loyalty.save_program(
            uow=uow, program=loyalty.Program(mode="stamps", stamp_goal=1, stamp_reward_coupon_id=reward)
        )
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        uow.session.flush()
        result = purchases.record_purchase(uow=uow, customer_id=customer.id, store_id=store.id, total=500)
        assert result.reward is not None and result.reward.title == "ドリンク1杯無料"
        uow.commit()

    (carousel,) = hanako.say("クーポン")

    shown = texts([carousel])
    assert "ドリンク1杯無料" in shown and "保有中" in shown
    assert postback_data([carousel]) == [f"action=coupon_open&id={result.reward.held.id}"]


def test_a_welcome_flow_gives_its_coupon_as_soon_as_a_friend_registers(chat, uow_factory):
    from crm_core import automations, flows
    from crm_core.models import CustomerCoupon

    welcome = _define(uow_factory, title="入会特典 300円引き", obtain="flow")
    with uow_factory() as uow:
        flow = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(name="入会特典", trigger="member_joined", coupon_id=welcome, holdout_percent=0),
        )
        uow.commit()
        key = automations.flow_key(flow.id)

    hanako = _member(chat)  # follows, agrees, registers: the flow runs right after the registration's commit

    with uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=hanako.line_user_id)
        (held,) = uow.session.exec(select(CustomerCoupon).where(CustomerCoupon.customer_id == customer.id)).all()
        assert held.coupon_id == welcome and held.idempotency_key.startswith(f"{key}:{customer.id}:joined")
    (carousel,) = hanako.say("クーポン")
    assert "入会特典 300円引き" in texts([carousel])
