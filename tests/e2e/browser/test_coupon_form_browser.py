"""A marketer defines a coupon in the browser: a wrong field is shown next to it with what was typed, fixed, saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD, STEP_TIMEOUT_MS
from tests.e2e.browser.test_shop_setup_journey import log_in

pytestmark = pytest.mark.browser
expect.set_options(timeout=STEP_TIMEOUT_MS)


def test_a_coupon_with_a_wrong_field_is_fixed_and_saved(fresh_shop, page):
    log_in(page, fresh_shop.url, SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD)
    page.get_by_role("link", name="マーケティング").click()
    expect(page.locator("main")).to_contain_text("クーポンはまだありません。")
    page.get_by_role("link", name="新しいクーポン").click()

    page.locator("input[name=title]").fill("冬の300円引き")
    page.locator("input[name=benefit_kind][value=yen_off]").check()
    page.locator("input[name=yen_off]").fill("-300")
    page.locator("input[name=validity][value=dates]").check()
    page.locator("input[name=valid_from]").fill("2026-12-25")
    page.locator("input[name=valid_until]").fill("2026-12-01")
    page.get_by_role("button", name="保存").click()

    expect(page.locator("[data-field=yen_off]")).to_have_text("1から10,000,000までの整数を入力してください。")
    expect(page.locator("[data-field=valid_until]")).to_have_text("最終日が開始日より前になっています。")
    expect(page.locator("input[name=title]")).to_have_value("冬の300円引き")
    expect(page.locator("input[name=yen_off]")).to_have_value("-300")

    page.locator("input[name=yen_off]").fill("300")
    page.locator("input[name=valid_until]").fill("2026-12-31")
    page.get_by_role("button", name="保存").click()

    expect(page.locator(".flash.info")).to_contain_text("クーポン「冬の300円引き」を保存しました。")
    expect(page.locator("[data-field=preview]")).to_contain_text("¥300引き")
    page.get_by_role("link", name="クーポン", exact=True).first.click()
    expect(page.locator("table.coupons")).to_contain_text("2026年12月25日(金)〜2026年12月31日(木)")
