"""Issue 10's profile in one browser: register in the simulator, tap the profile button, fill in the フリガナ in
hiragana and the birthday on the page LINE opens, read the confirmation on LINE, then find the customer in
the console by typing the フリガナ in hiragana."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bot.server import DEMO_ADMIN_EMAIL
from tests.e2e.browser.conftest import STEP_TIMEOUT_MS
from tests.e2e.browser.test_demo_journey import Simulator, agree_to_privacy

pytestmark = pytest.mark.browser
expect.set_options(timeout=STEP_TIMEOUT_MS)


def test_fill_in_the_profile_from_line_and_staff_find_the_customer_by_kana(demo, page, tmp_path):
    sim = Simulator(page, demo.url)
    sim.open()
    line_user_id = sim.create_user("高橋 陽菜")
    agree_to_privacy(sim, "高橋 陽菜")
    sim.tap("はじめての方")
    sim.expect_bot_says("会員登録が完了しました", "会員情報を入力")

    sim.tap("会員情報を入力")  # LINE opens the shop's page in its in-app browser; the simulator in this tab
    page.wait_for_url(re.compile(r"/profile\?"))
    expect(page.locator("input[name=name]")).to_have_value("高橋 陽菜")
    page.locator("input[name=name_kana]").fill("たかはし ひな")
    page.locator("select[name=birth_month]").select_option("7")
    page.locator("select[name=birth_day]").select_option("3")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_test_id("profile-saved")).to_contain_text("会員情報を保存しました")
    expect(page.locator("input[name=name_kana]")).to_have_value("タカハシ ヒナ")
    page.screenshot(path=str(tmp_path / "profile-page.png"))

    page.goto(f"{demo.url}/simulator/?user={line_user_id}")  # back to the chat
    sim.expect_bot_says("高橋 陽菜さん、会員情報を保存しました")
    sim.expect_no_invalid_request()

    console = page.context.new_page()
    console.goto(demo.url + "/console/customers?q=たかはしひな")
    console.locator("input[name=email]").fill(DEMO_ADMIN_EMAIL)
    console.locator("input[name=password]").fill("demo-admin-password")
    console.locator("form button[type=submit]").click()
    found = console.get_by_role("link", name=re.compile("高橋 陽菜"))
    expect(found).to_have_count(1)
    found.click()
    expect(console.locator("[data-field=birthday]")).to_have_text("7月3日")
    expect(console.locator("h1")).to_contain_text("タカハシ ヒナ")
    console.screenshot(path=str(tmp_path / "console-customer.png"))
