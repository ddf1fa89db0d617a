"""A newcomer's journey through `kizuna demo` in a real browser: the LINE simulator page, the shop's bot,
and the account-link login page, all served by the demo app on its own port."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bot.server import DEMO_LINE_USER
from tests.e2e.browser.conftest import STEP_TIMEOUT_MS

pytestmark = pytest.mark.browser

expect.set_options(timeout=STEP_TIMEOUT_MS)

MEMBER_NUMBER = re.compile(r"\d{10}")


class Simulator:
    """The simulator page, as a person uses it: pick or create a user, follow, tap, type."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.bot = page.get_by_test_id("bot-message")
        self.mine = page.get_by_test_id("user-message")

    def open(self) -> None:
        self.page.goto(self.base_url + "/simulator/")
        expect(self.page.get_by_test_id("new-user-form")).to_be_visible()

    def create_user(self, name: str, language: str = "ja") -> str:
        self.page.get_by_test_id("new-user-name").fill(name)
        self.page.get_by_test_id("new-user-language").select_option(language)
        self.page.get_by_test_id("new-user-submit").click()
        item = self.page.get_by_test_id("user-item").filter(has_text=name)
        expect(item).to_have_class(re.compile(r"\bselected\b"))
        expect(self.page.get_by_test_id("chat-title")).to_contain_text(name)
        return item.get_attribute("data-user-id")

    def follow(self) -> None:
        expect(self.page.get_by_test_id("chat-hint")).to_contain_text("友だち追加")
        self.page.get_by_test_id("follow-button").click()
        expect(self.page.get_by_test_id("block-button")).to_be_visible()

    def mark_read(self) -> None:
        """Remember which bot messages are already on screen, so `expect_bot_says` looks at newer ones only."""
        self.page.evaluate(
            "document.querySelectorAll('[data-testid=bot-message]').forEach((n) => n.dataset.read = '1')"
        )

    def tap(self, label: str) -> None:
        """Tap the newest button, quick reply or template action that reads `label`."""
        self.mark_read()
        button = self.page.locator(
            "[data-testid=flex-button], [data-testid=template-button], [data-testid=quick-reply]"
        ).filter(has_text=label)
        button.last.click()

    def say(self, text: str) -> None:
        self.mark_read()
        count = self.mine.count()
        self.page.get_by_test_id("text-input").fill(text)
        self.page.get_by_test_id("send-button").click()
        expect(self.mine).to_have_count(count + 1)
        expect(self.mine.last).to_contain_text(text)

    def expect_bot_says(self, *fragments: str | re.Pattern) -> None:
        """Each fragment shows up in a bot message that arrived after the last tap or text."""
        fresh = self.page.locator("[data-testid=bot-message]:not([data-read])")
        for fragment in fragments:
            expect(fresh.filter(has_text=fragment).first).to_be_visible()

    def expect_no_invalid_request(self) -> None:
        expect(self.page.get_by_test_id("invalid-banner")).to_be_hidden()
        expect(self.page.get_by_test_id("status-line")).to_be_hidden()

    def screenshot(self, path) -> None:
        self.page.screenshot(path=str(path))


def agree_to_privacy(sim: Simulator, name: str) -> None:
    sim.follow()
    expect(sim.bot.filter(has_text=name).first).to_be_visible()
    expect(sim.page.get_by_test_id("chat")).to_contain_text("個人情報")
    sim.expect_no_invalid_request()
    sim.tap("同意する")
    sim.expect_bot_says("はじめての方")


def open_login_page(sim: Simulator) -> Page:
    """Tap the login button: the simulator opens the shop's own pages in the same tab (a popup also works)."""
    popups: list[Page] = []
    sim.page.on("popup", lambda popup: popups.append(popup))
    sim.tap("ログイン")
    try:
        sim.page.wait_for_url(re.compile(r"/account/link\?"))
    except PlaywrightTimeoutError:
        if not popups:
            raise
        return popups[0]
    return sim.page


def test_newcomer_follows_agrees_registers_and_reads_the_menu(demo, page, tmp_path):
    sim = Simulator(page, demo.url)
    sim.open()
    # the demo has a LINE user waiting, selected, with a hint to press Follow
    expect(page.get_by_test_id("user-item").filter(has_text=DEMO_LINE_USER)).to_have_class(re.compile(r"\bselected\b"))
    expect(page.get_by_test_id("chat-hint")).to_be_visible()
    sim.create_user("佐藤 健")
    agree_to_privacy(sim, "佐藤 健")

    sim.tap("はじめての方")
    sim.expect_bot_says("会員登録が完了しました", "佐藤 健", MEMBER_NUMBER)
    sim.expect_no_invalid_request()

    sim.say("メニュー")
    sim.expect_bot_says("ポイント")
    sim.say("ポイント")
    sim.expect_bot_says("ポイントカード", re.compile(r"\d\s*pt"))
    qr = page.locator("[data-testid=bot-message]:not([data-read]) [data-testid=flex-image]").first
    expect(qr).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    sim.screenshot(tmp_path / "point-card.png")
    sim.say("クーポン")
    sim.expect_bot_says("コーヒー1杯無料")  # the demo's coupons, to get
    sim.expect_no_invalid_request()
    sim.screenshot(tmp_path / "newcomer.png")


def test_existing_member_links_by_member_number_and_birth_date(demo, page, tmp_path):
    sim = Simulator(page, demo.url)
    sim.open()
    sim.create_user("はなこ")
    agree_to_privacy(sim, "はなこ")

    sim.tap("会員カードをお持ちの方")
    sim.expect_bot_says("会員番号")
    sim.say("1000000008")
    sim.expect_bot_says("生年月日")
    sim.say("19850412")
    sim.expect_bot_says("山田 花子", "1000000008", "連携が完了しました")
    sim.expect_no_invalid_request()
    sim.screenshot(tmp_path / "member-link.png")


def test_web_member_links_through_the_login_page(demo, page, tmp_path):
    sim = Simulator(page, demo.url)
    sim.open()
    line_user_id = sim.create_user("ハナコ")
    agree_to_privacy(sim, "ハナコ")

    sim.tap("ウェブ会員の方")
    sim.expect_bot_says("ログイン")
    login = open_login_page(sim)
    expect(login.locator("input[name=email]")).to_be_visible()
    login.screenshot(path=str(tmp_path / "login-page.png"))
    login.locator("input[name=email]").fill("hanako@example.com")
    login.locator("input[name=password]").fill("kizuna-demo-2026")
    login.locator("form button[type=submit], form input[type=submit]").first.click()
    expect(login).to_have_url(re.compile(r"/simulator/\?user=" + line_user_id))
    sim = Simulator(login, demo.url)
    sim.expect_bot_says("山田 花子", "連携が完了しました")
    sim.expect_no_invalid_request()
    sim.screenshot(tmp_path / "web-link.png")
