"""The staff's reservations day in a real browser on the demo shop: log in, open the day, see the booking, mark it
arrived."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from bot.server import DEMO_ADMIN_EMAIL
from crm_core import hours, reservations, staff, stores
from crm_core.models import Booking, Customer
from tests.e2e.browser.conftest import STEP_TIMEOUT_MS

pytestmark = pytest.mark.browser

expect.set_options(timeout=STEP_TIMEOUT_MS)


def _midday_zone() -> str:
    """A fixed-offset zone where it is about noon now, so today always has free times ahead (whenever CI runs)."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12
    return "Etc/GMT" + ("+" if offset <= 0 else "-") + str(abs(offset))  # POSIX signs: Etc/GMT-9 is UTC+9


def _booking_today(services) -> tuple[int, str, str]:
    """A store open 06:00-20:00 in its own zone with a 30-minute menu, and a demo customer booked by phone today."""
    with services.uow_factory() as uow:
        store = stores.list_stores(uow=uow, include_closed=False)[0]
        open_hours = hours.from_form(weekly={day: "06:00-20:00" for day in hours.WEEKDAYS}, dates="")
        stores.upsert_store(uow=uow, code=store.code, name=store.name, business_hours=open_hours)
        reservations.update_settings(uow=uow, store_id=store.id, time_zone=_midday_zone())
        menu = reservations.upsert_menu(
            uow=uow, store_id=store.id, code="browser", name="ブラウザ診断", duration_minutes=30, price=3300, capacity=2
        )
        customer = uow.session.exec(select(Customer).where(Customer.erased_at.is_(None)).order_by(Customer.id)).first()
        rules = reservations.rules_for(uow=uow, store=store, zone=services.settings.zone)
        today = rules.now.astimezone(rules.zone).date()
        slot = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=today, by_staff=True)[0]
        result = reservations.book(
            uow=uow,
            customer_id=customer.id,
            store=store,
            menu=menu,
            starts_at=slot.starts_at,
            zone=services.settings.zone,
            source="console",
            staff_user_id=staff.check_staff_user_by_email(uow=uow, email=DEMO_ADMIN_EMAIL).id,  # taken by phone
        )
        uow.commit()
        return result.booking.id, store.code, customer.name


def test_staff_see_todays_booking_and_mark_it_arrived(demo, page: Page, tmp_path):
    booking_id, store_code, name = _booking_today(demo.services)

    page.goto(f"{demo.url}/console/reservations?store={store_code}")
    page.locator("input[name=email]").fill(DEMO_ADMIN_EMAIL)
    page.locator("input[name=password]").fill("demo-admin-password")
    page.locator("form button[type=submit]").click()

    block = page.locator(f"td.resv-block[data-booking='{booking_id}']")
    expect(block).to_contain_text(name)
    expect(block).to_contain_text("ブラウザ診断")
    row = page.locator(f"tr#booking-{booking_id}")
    expect(row).to_have_attribute("data-status", "booked")

    row.locator("[data-action=arrived]").click()

    expect(page.locator(f"tr#booking-{booking_id}")).to_have_attribute("data-status", "arrived")
    expect(page.locator(f"td.resv-block[data-booking='{booking_id}']")).to_contain_text("来店")
    expect(page.locator(f"tr#booking-{booking_id} [data-action=undo]")).to_be_visible()
    with demo.services.uow_factory() as uow:
        assert uow.session.get(Booking, booking_id).status == "arrived"
    page.screenshot(path=os.environ.get("RESERVATIONS_SCREENSHOT", str(tmp_path / "day.png")), full_page=True)
