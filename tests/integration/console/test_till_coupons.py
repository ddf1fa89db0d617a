# ruff: noqa: F811 - the till's fixtures (shop, till) come from its test module
"""Coupons at the till: the customer's real coupons with what each gives and why one cannot be used here,
used with the sale in one transaction (discount off the total, points on what is paid, once), on the
receipt; and the stamp card's reward, a coupon like any other."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from crm_core import coupons, customers, loyalty, purchases
from crm_core import till as till_service
from crm_core.errors import AlreadyUsed
from crm_core.models import CustomerCoupon, Purchase
from tests.integration.console.test_till import (  # noqa: F401 - the till's fixtures
    SECRET,
    _on_line,
    card_code,
    open_customer,
    purchases_of,
    sell,
    shop,
    till,
)
from tests.threads import together


@pytest.fixture
def give(uow_factory, shop):
    """Define a coupon (¥500 off, 7 days unless told) and issue one to the shop's member; returns its code."""

    def make(**fields) -> str:
        store_codes = fields.pop("store_codes", ())
        spec = coupons.CouponSpec(
            **{"title": "500円引き", "benefit_kind": "yen_off", "benefit_value": 500, "valid_days": 7, **fields},
            store_codes=tuple(store_codes),
        )
        with uow_factory() as uow:
            coupon = coupons.define_coupon(uow=uow, spec=spec)
            issued = coupons.issue_coupon(uow=uow, coupon_id=coupon.id, customer_id=shop["customer_id"])
            uow.commit()
            return issued.coupon.code

    return make


@pytest.fixture
def staff(till):
    """The till, in Japanese (the staff's language here)."""
    with till.session_transaction() as session:
        session["lang"] = "ja"
    return till


def held(uow_factory, code: str) -> CustomerCoupon:
    with uow_factory() as uow:
        return coupons.get_by_code(uow=uow, code=code)


def page_of(client, fields) -> str:
    return client.get("/console/till/customer", query_string={"t": fields["ticket"]}).get_data(as_text=True)


def test_the_panel_shows_real_coupons_what_they_give_and_why_not_here(staff, shop, give, clock, uow_factory):
    usable = give()
    percent = give(title="10%オフ", benefit_kind="percent_off", benefit_value=10, benefit_cap=1000, min_purchase=3000)
    elsewhere = give(title="梅田限定", store_codes=("UMEDA",))
    expired = give(title="昨日まで", valid_days=1)
    with uow_factory() as uow:
        coupons.get_by_code(uow=uow, code=expired).expires_at = clock.now() - timedelta(hours=1)
        uow.commit()

    page, fields = open_customer(staff, shop["member_number"])
    text = page.get_data(as_text=True)

    assert f'value="{usable}"' in text and "¥500引き" in text
    assert f'value="{percent}"' in text and "10%引き（上限¥1,000）" in text and "¥3,000以上のお買い上げで利用可" in text
    assert f'value="{elsewhere}"' not in text and "このクーポンはこの店舗ではご利用いただけません。" in text
    assert f'value="{expired}"' not in text and f'data-coupon="{expired}"' in text
    assert "このクーポンは有効期限が切れています。" in text


def test_a_picked_coupon_takes_its_discount_off_and_points_are_earned_on_what_is_paid(staff, shop, give, uow_factory):
    code = give()
    _, fields = open_customer(staff, shop["member_number"])

    response = sell(staff, fields, total="3240", coupon=code)

    assert response.status_code == 302
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])
    assert (purchase.total, purchase.discount, purchase.points_earned) == (2740, 500, 27)
    used = held(uow_factory, code)
    assert (used.status, used.purchase_id, used.discount) == ("redeemed", purchase.id, 500)
    page = page_of(staff, fields)
    assert "クーポン「500円引き」: ¥3,240から¥500引き。" in page
    assert "¥2,740" in page and "クーポン: ¥500引き" in page
    assert f'value="{code}"' not in page  # used: no longer offered


def test_points_pay_at_most_what_is_left_after_the_coupon(staff, shop, give, uow_factory, clock):
    code = give()
    _, fields = open_customer(staff, card_code(clock, shop["customer_id"]))

    refused = sell(staff, fields, total="600", coupon=code, points="200")

    assert refused.status_code == 400
    assert "利用ポイントはクーポン適用後の合計を超えられません。" in refused.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []
    assert held(uow_factory, code).status == "issued"


@pytest.mark.parametrize(
    ("fields", "total", "message"),
    [
        ({"min_purchase": 5000}, "3240", "このクーポンのご利用には¥5,000以上のお買い上げが必要です。"),
        ({"store_codes": ("UMEDA",)}, "3240", "このクーポンはこの店舗ではご利用いただけません。"),
    ],
)
def test_a_refused_coupon_records_nothing_and_says_why(staff, shop, give, uow_factory, fields, total, message):
    code = give(**fields)
    _, form = open_customer(staff, shop["member_number"])

    response = sell(staff, form, total=total, coupon_code=code)

    assert response.status_code == 400
    assert f'data-field="till_error">{message}' in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []
    assert held(uow_factory, code).status == "issued"


def test_refusals_in_english(till, shop, give, uow_factory):
    with till.session_transaction() as session:
        session["lang"] = "en"
    code = give(min_purchase=5000)
    _, form = open_customer(till, shop["member_number"])

    text = sell(till, form, total="3240", coupon_code=code).get_data(as_text=True)

    assert "This coupon needs a purchase of at least ¥5,000." in text
    assert "Total (yen, before any coupon)" in text and "on a purchase of ¥5,000 or more" in text
    assert 'lang="en"' in text and "%(" not in text


def test_a_typed_code_with_dashes_and_a_scanned_qr_code_work(staff, shop, give, uow_factory, clock):
    typed, scanned = give(), give(title="別の500円引き")
    _, form = open_customer(staff, shop["member_number"])
    with uow_factory() as uow:
        qr = coupons.qr_code_for(uow=uow, held=coupons.get_by_code(uow=uow, code=scanned), secret=SECRET)

    sell(staff, form, total="1000", coupon_code=f"{typed[:4]}-{typed[4:8]}-{typed[8:]}".lower())
    page, form = open_customer(staff, shop["member_number"])
    sell(staff, form, total="1000", coupon_code=qr)

    assert [p.discount for p in purchases_of(uow_factory, shop["customer_id"])] == [500, 500]
    assert held(uow_factory, typed).status == held(uow_factory, scanned).status == "redeemed"


def test_another_customers_coupon_is_refused(staff, shop, uow_factory):
    with uow_factory() as uow:
        taro = customers.create_customer(uow=uow, name="佐藤 太郎")
        spec = coupons.CouponSpec(title="500円引き", benefit_kind="yen_off", benefit_value=500, valid_days=7)
        coupon = coupons.define_coupon(uow=uow, spec=spec)
        code = coupons.issue_coupon(uow=uow, coupon_id=coupon.id, customer_id=taro.id).coupon.code
        uow.commit()
    _, form = open_customer(staff, shop["member_number"])

    response = sell(staff, form, total="3240", coupon_code=code)

    assert response.status_code == 400 and "このクーポンは別のお客様のものです。" in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []


def test_the_same_form_twice_uses_the_coupon_once_and_a_second_sale_is_refused(staff, shop, give, uow_factory):
    code = give()
    _, form = open_customer(staff, shop["member_number"])

    first = sell(staff, form, total="3240", coupon=code)
    again = sell(staff, form, total="3240", coupon=code)
    _, other_form = open_customer(staff, shop["member_number"])
    other = sell(staff, other_form, total="3240", coupon_code=code)

    assert first.status_code == again.status_code == 302
    assert other.status_code == 400 and "このクーポンは使用済みです。" in other.get_data(as_text=True)
    assert len(purchases_of(uow_factory, shop["customer_id"])) == 1


def test_undoing_the_sale_gives_the_coupon_back(staff, shop, give, uow_factory):
    code = give()
    _, form = open_customer(staff, shop["member_number"])
    sell(staff, form, total="3240", coupon=code)
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])

    response = staff.post(
        "/console/till/undo",
        data={**form, "purchase_id": purchase.id, "reason": "打ち間違い", "what": "sale"},
    )

    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    back = held(uow_factory, code)
    assert (back.status, back.purchase_id, back.discount) == ("issued", None, None)
    with uow_factory() as uow:
        assert uow.session.get(Purchase, purchase.id).refunded_total == 2740


def test_the_receipt_on_line_shows_the_coupon_and_the_discount(staff, shop, give, line, uow_factory, services):
    line_user_id = _on_line(line, uow_factory, shop["customer_id"])
    code = give()
    _, form = open_customer(staff, shop["member_number"])

    sell(staff, form, total="3240", coupon=code)
    services.pump.wait_idle()

    (receipt,) = (m["text"] for m in line.messages_to(line_user_id))
    assert "小計: ¥3,240" in receipt and "クーポン「500円引き」: -¥500" in receipt and "¥2,740" in receipt
    assert "獲得ポイント：27 pt" in receipt


def test_two_tills_scanning_one_coupon_at_once_use_it_once(shop, give, uow_factory, services, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("real concurrency needs PostgreSQL")
    code = give()

    def sale(n):
        return till_service.sell(
            uow_factory=uow_factory,
            customer_id=shop["customer_id"],
            store_id=shop["stores"]["SHIBUYA" if n % 2 else "UMEDA"],
            staff_user_id=None,
            key=f"{n:032x}",
            total=3240,
            zone=services.settings.zone,
            coupon_code=code,
        )

    results = together(6, sale)

    done = [r for r in results if not isinstance(r, Exception)]
    assert len(done) == 1 and all(isinstance(r, AlreadyUsed) for r in results if r not in done)
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])
    assert (purchase.total, purchase.discount) == (2740, 500)
    assert held(uow_factory, code).purchase_id == purchase.id


def test_a_full_stamp_card_gives_one_reward_coupon_redeemable_at_the_till(staff, shop, uow_factory, clock):
    with uow_factory() as uow:
        loyalty.save_program(
            uow=uow, program=loyalty.Program(mode="stamps", stamp_goal=2, stamp_reward_title="ドリンク1杯")
        )
        uow.commit()
        purchases.record_purchase(  # yesterday's visit: the first stamp
            uow=uow,
            customer_id=shop["customer_id"],
            store_id=shop["stores"]["SHIBUYA"],
            total=500,
            occurred_at=clock.now() - timedelta(days=1),
        )
        uow.commit()
    _, form = open_customer(staff, shop["member_number"])
    sell(staff, form, total="500")
    sell(staff, form, total="500")  # the same form again: no second stamp, no second reward

    with uow_factory() as uow:
        (reward,) = uow.session.exec(select(CustomerCoupon).where(CustomerCoupon.obtained_by == "stamps")).all()
        program = loyalty.get_program(uow=uow)
        assert reward.coupon_id == program.stamp_reward_coupon_id
    page, form = open_customer(staff, shop["member_number"])
    text = page.get_data(as_text=True)
    assert f'value="{reward.code}"' in text and "プレゼント: ドリンク1杯" in text

    assert sell(staff, form, total="500", coupon=reward.code).status_code == 302
    assert held(uow_factory, reward.code).status == "redeemed"


def test_a_sale_that_fails_leaves_the_coupon_unused(staff, shop, give, uow_factory, clock):
    code = give()
    _, form = open_customer(staff, card_code(clock, shop["customer_id"]))

    refused = sell(staff, form, total="3240", coupon=code, points="600")  # 500 points held

    assert refused.status_code == 400
    assert purchases_of(uow_factory, shop["customer_id"]) == []
    assert held(uow_factory, code).status == "issued"
    assert f'value="{code}" form="till-sale-form" checked' in refused.get_data(as_text=True)  # still picked


def test_a_sale_the_coupon_pays_in_full_earns_nothing_and_can_be_undone(staff, shop, give, uow_factory):
    code = give()
    _, form = open_customer(staff, shop["member_number"])

    assert sell(staff, form, total="300", coupon=code).status_code == 302

    (purchase,) = purchases_of(uow_factory, shop["customer_id"])
    assert (purchase.total, purchase.discount, purchase.points_earned) == (0, 300, 0)
    page = page_of(staff, form)
    assert "取消済み" not in page and f'name="purchase_id" value="{purchase.id}"' in page
    undo = {**form, "purchase_id": purchase.id, "reason": "打ち間違い", "what": "sale"}
    assert staff.post("/console/till/undo", data=undo).status_code == 302
    assert held(uow_factory, code).status == "issued"
    page = page_of(staff, form)
    assert "取消済み" in page and f'name="purchase_id" value="{purchase.id}"' not in page
    assert staff.post("/console/till/undo", data=undo).status_code == 400  # once


def test_sales_at_once_on_a_card_one_stamp_from_full_give_one_reward(shop, uow_factory, services, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("real concurrency needs PostgreSQL")
    with uow_factory() as uow:
        loyalty.save_program(uow=uow, program=loyalty.Program(mode="stamps", stamp_goal=1))
        uow.commit()

    def sale(n):
        return till_service.sell(
            uow_factory=uow_factory,
            customer_id=shop["customer_id"],
            store_id=shop["stores"]["SHIBUYA" if n % 2 else "UMEDA"],
            staff_user_id=None,
            key=f"{n:032x}",
            total=500,
            zone=services.settings.zone,
        )

    results = together(6, sale)

    assert [r for r in results if isinstance(r, Exception)] == []
    with uow_factory() as uow:
        rewards = uow.session.exec(select(CustomerCoupon).where(CustomerCoupon.customer_id == shop["customer_id"]))
        assert [held.obtained_by for held in rewards] == ["stamps"]


def test_many_coupons_cost_the_panel_no_more_statements_than_one(staff, shop, give, services):
    def statements_for_page() -> int:
        _, form = open_customer(staff, shop["member_number"])
        seen = []

        def executed(_connection, _cursor, statement, *_):
            seen.append(statement)

        event.listen(services.engine, "before_cursor_execute", executed)
        try:
            assert staff.get("/console/till/customer", query_string={"t": form["ticket"]}).status_code == 200
        finally:
            event.remove(services.engine, "before_cursor_execute", executed)
        return len(seen)

    give(store_codes=("UMEDA",))
    one = statements_for_page()
    for n in range(6):
        give(title=f"クーポン{n}", store_codes=("UMEDA", "SHIBUYA") if n % 2 else ())

    assert statements_for_page() == one
