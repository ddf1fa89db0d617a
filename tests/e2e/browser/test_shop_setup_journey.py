"""Issue 10's "done means", in one browser: a shop that is not the demo is set up from the dashboard's
checklist alone (name, privacy contact, two stores, a staff account by invitation, an API token, the LINE
channel verified); then a customer registers in the simulator with フリガナ and birthday, buys at the till
from the invited staff member, gets a receipt naming the store, and staff find them by the フリガナ in hiragana."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD, STEP_TIMEOUT_MS
from tests.e2e.browser.test_demo_journey import Simulator, agree_to_privacy

pytestmark = pytest.mark.browser
expect.set_options(timeout=STEP_TIMEOUT_MS)

STAFF_EMAIL = "kana@cafe-mori.example"
STAFF_PASSWORD = "staff password 2026"  # noqa: S105  (a test account)


def log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(url + "/console/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").click()


def todo(page: Page) -> list[str]:
    return [item.get_attribute("data-todo") for item in page.locator("[data-todo]").all()]


def test_a_new_shop_follows_the_checklist_and_serves_its_first_customer(fresh_shop, page, tmp_path):
    url = fresh_shop.url
    log_in(page, url, SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD)
    expect(page.locator("#checklist")).to_be_visible()
    assert todo(page) == ["shop_name", "privacy_contact", "store", "staff", "line"]
    page.screenshot(path=str(tmp_path / "checklist.png"))

    # 1. the shop's name and privacy contact, from the checklist's link
    page.locator("[data-todo=shop_name] a").click()
    page.locator("input[name=name]").fill("Café Mori")
    page.locator("textarea[name=privacy_contact]").fill("Café Mori お客様窓口 privacy@cafe-mori.example")
    page.get_by_role("button", name="保存").first.click()
    expect(page.locator(".flash.info")).to_contain_text("ショップ設定を保存しました")

    # 2. two stores
    page.goto(url + "/console/")
    page.locator("[data-todo=store] a").click()
    for code, name in (("MORI-HONTEN", "Café Mori 本店"), ("MORI-EKIMAE", "Café Mori 駅前店")):
        page.locator("input[name=code]").fill(code)
        page.locator("input[name=name]").fill(name)
        page.get_by_role("button", name="店舗を追加").click()
        expect(page.locator("main")).to_contain_text(name)

    # 3. a staff account, invited: the link lets the person set their own password
    page.goto(url + "/console/")
    page.locator("[data-todo=staff] a").click()
    page.locator("form:has(input[name=email]) input[name=email]").fill(STAFF_EMAIL)
    page.locator("input[name=display_name]").fill("佐藤 かな")
    page.locator("form:has(input[name=email]) select[name=role]").select_option("staff")
    page.locator("form:has(input[name=email]) select[name=home_store]").select_option("MORI-EKIMAE")
    page.get_by_role("button", name="招待する").click()
    invitation = page.locator("[data-field=password_link]").input_value()
    assert "/console/invite/" in invitation

    # 4. an API token for the POS, shown once
    page.goto(url + "/console/tokens")
    page.locator("input[name=name]").fill("POS 駅前店")
    page.get_by_role("button", name="作成").click()
    assert page.locator("[data-field=token]").input_value().startswith("kzn_")

    # 5. the LINE channel: LINE (the simulator) calls this server's /callback
    page.goto(url + "/console/")
    assert todo(page) == ["line"]
    page.locator("[data-todo=line] a").click()
    page.get_by_role("button", name="LINEチャネルを確認する").click()
    expect(page.locator("[data-check=test]")).to_contain_text("このサーバーに届きました")
    page.goto(url + "/console/")
    expect(page.locator("[data-todo=none]")).to_contain_text("初期設定は完了しています")
    page.screenshot(path=str(tmp_path / "setup-complete.png"))

    # the invited staff member sets a password in a browser of their own
    staff_page = page.context.browser.new_context(locale="ja-JP").new_page()
    staff_page.set_default_timeout(STEP_TIMEOUT_MS)
    staff_page.goto(invitation)
    staff_page.locator("input[name=password]").fill(STAFF_PASSWORD)
    staff_page.locator("input[name=confirmation]").fill(STAFF_PASSWORD)
    staff_page.locator("form button[type=submit]").click()

    # a customer registers on LINE and fills in the profile: フリガナ in hiragana, birthday
    customer = page.context.new_page()
    sim = Simulator(customer, url)
    sim.open()
    line_user_id = sim.create_user("森 ひかり")
    agree_to_privacy(sim, "森 ひかり")
    expect(sim.page.get_by_test_id("chat")).to_contain_text("Café Mori")
    sim.tap("はじめての方")
    sim.expect_bot_says("会員登録が完了しました")
    sim.tap("会員情報を入力")
    customer.wait_for_url(re.compile(r"/profile\?"))
    customer.locator("input[name=name_kana]").fill("もり ひかり")
    customer.locator("select[name=birth_month]").select_option("3")
    customer.locator("select[name=birth_day]").select_option("14")
    customer.locator("select[name=home_store]").select_option(label="Café Mori 駅前店")
    customer.get_by_role("button", name="保存").click()
    expect(customer.get_by_test_id("profile-saved")).to_be_visible()
    customer.goto(f"{url}/simulator/?user={line_user_id}")
    sim.say("ポイント")
    sim.expect_bot_says("会員番号")
    member_number = _member_number(fresh_shop, line_user_id)

    # the staff member sells at the till, which starts at their home store
    log_in(staff_page, url, STAFF_EMAIL, STAFF_PASSWORD)
    staff_page.goto(url + "/console/till")
    expect(staff_page.locator("[data-field=till_store]")).to_contain_text("Café Mori 駅前店")
    staff_page.get_by_test_id("till-code").fill(member_number)
    staff_page.get_by_test_id("till-code").press("Enter")
    staff_page.get_by_test_id("till-total").fill("1,280")
    staff_page.get_by_test_id("till-record").click()
    expect(staff_page.get_by_test_id("till-balance")).to_have_text("12")

    # the receipt on LINE names the store
    sim.expect_bot_says("Café Mori 駅前店", "¥1,280")
    sim.expect_no_invalid_request()

    # staff find the customer by typing the フリガナ in hiragana, without the space
    staff_page.goto(url + "/console/customers?q=もりひかり")
    found = staff_page.get_by_role("link", name=re.compile("森 ひかり"))
    expect(found).to_have_count(1)
    staff_page.screenshot(path=str(tmp_path / "found-by-kana.png"))


def _member_number(shop, line_user_id: str) -> str:
    from crm_core import customers

    with shop.services.uow_factory() as uow:
        return customers.get_by_line_user_id(uow=uow, line_user_id=line_user_id).member_number
