"""The issue's journey on `kizuna demo` in a real browser: a customer books, changes and cancels in the LINE
simulator; staff see the booking in the console; its reminders wait in the push engine's queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from bot.server import DEMO_ADMIN_EMAIL
from crm_core import customers, reservations
from crm_core.models import Booking, OutboxMessage, Store
from tests.e2e.browser.conftest import STEP_TIMEOUT_MS
from tests.e2e.browser.test_demo_journey import Simulator, agree_to_privacy

pytestmark = pytest.mark.browser

expect.set_options(timeout=STEP_TIMEOUT_MS)


def _pick_day(sim: Simulator, day: str) -> None:
    sim.tap("日付を選ぶ")
    sim.page.get_by_test_id("datetime-input").fill(day)
    sim.mark_read()
    sim.page.get_by_test_id("datetime-submit").click()


def _first_time(sim: Simulator) -> str:
    """Tap the earliest free time offered (the first quick reply, once the day's times arrived); its label."""
    sim.expect_bot_says("時間をお選びください")
    quick = sim.page.locator("[data-testid=quick-reply]").first
    expect(quick).to_be_visible()
    label = quick.inner_text()
    sim.mark_read()
    quick.click()
    return label


def _bookings(services, line_user_id: str) -> list[Booking]:
    with services.uow_factory() as uow:
        customer = customers.get_by_line_user_id(uow=uow, line_user_id=line_user_id)
        query = select(Booking).where(Booking.customer_id == customer.id).order_by(Booking.id)
        return list(uow.session.exec(query))


def test_a_customer_books_changes_and_cancels_and_staff_see_it(demo, page: Page, tmp_path):
    sim = Simulator(page, demo.url)
    sim.open()
    line_user_id = sim.create_user("予約 太郎")
    agree_to_privacy(sim, "予約 太郎")
    sim.tap("はじめての方")
    sim.expect_bot_says("会員登録が完了しました")

    with demo.services.uow_factory() as uow:
        today = uow.now().astimezone(demo.services.settings.zone).date()
    day = (today + timedelta(days=2)).isoformat()

    sim.say("予約")
    sim.expect_bot_says("この店舗で予約")
    sim.tap("この店舗で予約")
    sim.expect_bot_says("選ぶ")
    sim.tap("選ぶ")
    sim.expect_bot_says("ご希望の日をお選びください")
    _pick_day(sim, day)
    first = _first_time(sim)
    sim.expect_bot_says("こちらでご予約しますか？")
    sim.expect_no_invalid_request()
    sim.tap("確定する")
    sim.expect_bot_says("ご予約が確定しました", first)
    (booked,) = [b for b in _bookings(demo.services, line_user_id) if b.status == "booked"]

    sim.tap("予約の確認")
    sim.expect_bot_says("変更")
    sim.tap("変更")
    sim.expect_bot_says("変更先の日をお選びください")
    _pick_day(sim, (today + timedelta(days=3)).isoformat())
    _first_time(sim)
    sim.expect_bot_says("ご予約をこの日時に変更しますか？")
    sim.tap("確定する")
    sim.expect_bot_says("ご予約を変更しました")
    statuses = {b.id: b.status for b in _bookings(demo.services, line_user_id)}
    assert statuses[booked.id] == "cancelled"
    (moved,) = [b for b in _bookings(demo.services, line_user_id) if b.status == "booked"]
    assert moved.replaces_id == booked.id
    sim.screenshot(tmp_path / "booked-and-changed.png")

    # staff: the booking on its day in the console, and its reminders waiting in the push engine's queue
    with demo.services.uow_factory() as uow:
        store = uow.session.get(Store, moved.store_id)
        keys = set(uow.session.exec(select(OutboxMessage.dedupe_key).where(OutboxMessage.status == "pending")))
    assert reservations.reminder_key(moved.customer_id, moved.id, "eve") in keys
    staff_page = page.context.new_page()
    moved_day = moved.starts_at.astimezone(demo.services.settings.zone).date().isoformat()
    staff_page.goto(f"{demo.url}/console/reservations?store={store.code}&day={moved_day}")
    staff_page.locator("input[name=email]").fill(DEMO_ADMIN_EMAIL)
    staff_page.locator("input[name=password]").fill("demo-admin-password")
    staff_page.locator("form button[type=submit]").click()
    staff_page.goto(f"{demo.url}/console/reservations?store={store.code}&day={moved_day}")
    expect(staff_page.locator(f"tr#booking-{moved.id}")).to_contain_text("予約 太郎")
    staff_page.goto(f"{demo.url}/console/automations/booking_reminder/results")
    expect(staff_page.locator("[data-field=waiting]").last).to_contain_text("送信待ち")
    staff_page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    sim.say("予約")
    sim.tap("予約の確認")
    sim.expect_bot_says("キャンセル")
    sim.tap("キャンセル")
    sim.expect_bot_says("このご予約をキャンセルしますか？")
    sim.tap("予約をキャンセルする")
    sim.expect_bot_says("ご予約をキャンセルしました")
    sim.expect_no_invalid_request()
    assert {b.status for b in _bookings(demo.services, line_user_id)} == {"cancelled"}
    with demo.services.uow_factory() as uow:
        pending = uow.session.exec(
            select(OutboxMessage).where(
                OutboxMessage.dedupe_key.startswith(f"auto:booking_reminder:{moved.customer_id}:"),
                OutboxMessage.status == "pending",
            )
        ).all()
    assert pending == []  # cancelled with the booking
