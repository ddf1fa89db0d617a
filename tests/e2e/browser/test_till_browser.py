"""The till in a real browser on the demo shop: log in, pick a store, type a member number, record ¥3,240."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from bot.server import DEMO_ADMIN_EMAIL
from crm_core import coupons, loyalty, points
from crm_core.models import Customer
from tests.e2e.browser.conftest import STEP_TIMEOUT_MS

pytestmark = pytest.mark.browser

expect.set_options(timeout=STEP_TIMEOUT_MS)


def test_a_sale_at_the_till(demo, page: Page, tmp_path):
    with demo.services.uow_factory() as uow:
        customer = uow.session.exec(select(Customer).where(Customer.erased_at.is_(None)).order_by(Customer.id)).first()
        before = points.details(uow=uow, customer_id=customer.id).available
        program = loyalty.get_program(uow=uow)
        earned = program.points_for(3240, program.tier_named(customer.tier).multiplier_pct)
        member_number = customer.member_number

    page.goto(demo.url + "/console/till")
    page.locator("input[name=email]").fill(DEMO_ADMIN_EMAIL)
    page.locator("input[name=password]").fill("demo-admin-password")
    page.locator("form button[type=submit]").click()
    page.locator(".till-stores button").first.click()
    expect(page.locator("[data-field=till_store]")).to_be_visible()

    page.get_by_test_id("till-code").fill(member_number)
    page.get_by_test_id("till-code").press("Enter")
    expect(page.locator("[data-field=member_number]")).to_have_text(member_number)
    expect(page.get_by_test_id("till-balance")).to_have_text(str(before))

    page.get_by_test_id("till-total").fill("3,240")
    page.get_by_test_id("till-record").click()

    expect(page.get_by_test_id("till-balance")).to_have_text(str(before + earned))
    expect(page.locator("[data-sale]")).to_have_count(1)
    expect(page.locator("[data-sale]")).to_contain_text("¥3,240")
    with demo.services.uow_factory() as uow:
        assert points.details(uow=uow, customer_id=customer.id).available == before + earned
    page.set_viewport_size({"width": 390, "height": 844})  # a phone at the counter
    page.screenshot(path=os.environ.get("TILL_SCREENSHOT", str(tmp_path / "till.png")), full_page=True)


def test_a_coupon_with_the_sale_at_the_till(demo, page: Page):
    with demo.services.uow_factory() as uow:
        customer = uow.session.exec(select(Customer).where(Customer.erased_at.is_(None)).order_by(Customer.id)).first()
        spec = coupons.CouponSpec(
            title="ブラウザ500円引き", benefit_kind="yen_off", benefit_value=500, min_purchase=3000, valid_days=7
        )
        coupon = coupons.define_coupon(uow=uow, spec=spec)
        code = coupons.issue_coupon(uow=uow, coupon_id=coupon.id, customer_id=customer.id).coupon.code
        uow.commit()
        member_number = customer.member_number

    page.goto(demo.url + "/console/till")
    page.locator("input[name=email]").fill(DEMO_ADMIN_EMAIL)
    page.locator("input[name=password]").fill("demo-admin-password")
    page.locator("form button[type=submit]").click()
    page.locator(".till-stores button").first.click()
    page.get_by_test_id("till-code").fill(member_number)
    page.get_by_test_id("till-code").press("Enter")

    offered = page.locator(f"[data-coupon='{code}']")
    expect(offered).to_contain_text("ブラウザ500円引き")
    page.get_by_test_id("till-total").fill("2,000")
    expect(offered.locator("[data-below-minimum]")).to_be_visible()
    page.get_by_test_id("till-total").fill("3,240")
    expect(offered.locator("[data-below-minimum]")).to_be_hidden()
    offered.locator("input[type=radio]").check()
    page.get_by_test_id("till-record").click()

    expect(page.locator("[data-sale]")).to_have_count(1)
    expect(page.locator("[data-sale]")).to_contain_text("¥2,740")
    expect(page.locator("[data-field=sale_discount]")).to_contain_text("¥500")
    expect(page.locator(f"[data-coupon='{code}']")).to_have_count(0)
    with demo.services.uow_factory() as uow:
        assert coupons.get_by_code(uow=uow, code=code).status == "redeemed"
