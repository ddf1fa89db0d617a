"""Issue 3's whole journey in one browser: register in the simulator, show the card, credit ¥3,240 at the
till in another tab by typing the member number, and read the receipt and the new balance on LINE."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bot.server import DEMO_ADMIN_EMAIL
from tests.e2e.browser.conftest import STEP_TIMEOUT_MS
from tests.e2e.browser.test_demo_journey import MEMBER_NUMBER, Simulator, agree_to_privacy

pytestmark = pytest.mark.browser
expect.set_options(timeout=STEP_TIMEOUT_MS)


def test_register_show_the_card_credit_at_the_till_and_read_the_receipt(demo, page, tmp_path):
    sim = Simulator(page, demo.url)
    sim.open()
    sim.create_user("高橋 陽菜")
    agree_to_privacy(sim, "高橋 陽菜")
    sim.tap("はじめての方")
    sim.expect_bot_says("会員登録が完了しました")
    sim.say("ポイント")
    sim.expect_bot_says("ポイントカード", "0")
    card = page.locator("[data-testid=bot-message]:not([data-read])").filter(has_text="ポイントカード").first
    member_number = MEMBER_NUMBER.search(card.inner_text()).group(0)

    till = page.context.new_page()  # the till, in another tab
    till.goto(demo.url + "/console/till")
    till.locator("input[name=email]").fill(DEMO_ADMIN_EMAIL)
    till.locator("input[name=password]").fill("demo-admin-password")
    till.locator("form button[type=submit]").click()
    till.locator(".till-stores button").first.click()
    till.get_by_test_id("till-code").fill(member_number)  # no camera: type the number on the card
    till.get_by_test_id("till-code").press("Enter")
    expect(till.locator("[data-field=member_number]")).to_have_text(member_number)
    till.get_by_test_id("till-total").fill("3,240")
    till.get_by_test_id("till-record").click()
    expect(till.get_by_test_id("till-balance")).to_have_text("32")

    page.bring_to_front()
    sim.mark_read()
    receipt = page.get_by_test_id("bot-message").filter(has_text="¥3,240")
    expect(receipt.last).to_contain_text(re.compile(r"獲得ポイント：32 pt"))
    expect(receipt.last).to_contain_text("ポイント残高：32 pt")
    sim.say("ポイント")
    sim.expect_bot_says("32")
    sim.expect_no_invalid_request()
    sim.screenshot(tmp_path / "receipt.png")
