"""The booking setup of a store (admins): settings, resources and menus; refused values shown next to their
field; staff and marketers cannot open it."""

from __future__ import annotations

import pytest

from crm_core import reservations
from tests.integration.console.conftest import csrf_token

SETUP = "/console/reservations/SALON/setup"


def text(response) -> str:
    return response.get_data(as_text=True).replace("\u202f", " ")


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, SETUP), **data})


SETTINGS = {
    "time_zone": "",
    "slot_minutes": "15",
    "horizon_days": "30",
    "min_notice_minutes": "120",
    "cancel_deadline_minutes": "720",
    "hold_minutes": "10",
}


@pytest.mark.parametrize("role", ["staff", "marketer"])
def test_staff_and_marketers_cannot_open_the_setup_or_the_exports(as_role, salon, role):
    client = as_role(role)
    for path in (
        SETUP,
        "/console/reservations/SALON/setup/menus/new",
        "/console/reservations/SALON/setup/menus/cut",
        "/console/reservations/SALON/bookings.csv?from=2026-11-01&to=2026-11-30",
    ):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/console/reservations")
    refused = client.post(f"{SETUP}/settings", data={"csrf_token": token, **SETTINGS, "slot_minutes": "60"})
    assert refused.status_code == 403


def test_an_admin_sees_the_setup_with_a_link_to_the_business_hours(as_role, salon):
    page = text(as_role("admin").get(SETUP))
    assert "Booking settings" in page and 'href="/console/stores/SALON"' in page
    assert 'data-resource="aoi"' in page and 'data-menu="cut"' in page and "¥5,500" in page
    assert "あおい, れん" in page and "1 at the same time" in page  # the cut's stylists; the consultation's own place


def test_an_admin_changes_the_booking_settings(as_role, salon, uow_factory):
    client = as_role("admin")
    response = post(client, f"{SETUP}/settings", **{**SETTINGS, "time_zone": "Asia/Seoul"})
    assert response.status_code == 302
    with uow_factory() as uow:
        saved = reservations.get_settings(uow=uow, store_id=salon["store_id"])
    assert (saved.time_zone, saved.slot_minutes, saved.horizon_days, saved.min_notice_minutes) == (
        "Asia/Seoul", 15, 30, 120,
    )  # fmt: skip
    assert (saved.cancel_deadline_minutes, saved.hold_minutes) == (720, 10)
    assert "The booking settings were saved." in text(client.get(response.headers["Location"]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slot_minutes", "7", "The time between start times must be 5 to 240 minutes, in steps of 5."),
        ("hold_minutes", "31", "A chosen time is held 1 to 30 minutes."),
        ("time_zone", "Mars/Olympus", "Mars/Olympus is not a time zone (like Asia/Tokyo)."),
        ("horizon_days", "", "Booking ahead must be 1 to 365 days."),
    ],
)
def test_a_refused_setting_is_shown_next_to_its_field_and_nothing_is_saved(
    as_role, salon, uow_factory, field, value, message
):
    response = post(as_role("admin"), f"{SETUP}/settings", **{**SETTINGS, field: value})
    assert response.status_code == 400
    assert f'data-error="settings.{field}">{message}</span>' in text(response)
    with uow_factory() as uow:
        assert reservations.get_settings(uow=uow, store_id=salon["store_id"]).slot_minutes == 30


def test_an_admin_adds_and_changes_a_resource(as_role, salon, uow_factory):
    client = as_role("admin")
    assert post(client, f"{SETUP}/resources", adding="1", code="room-1", name="個室", capacity="2").status_code == 302
    taken = post(client, f"{SETUP}/resources", adding="1", code="aoi", name="別人", capacity="1")
    assert (
        taken.status_code == 400
        and 'data-error="resource.code">There is already a resource with this code.' in text(taken)
    )
    bad = post(client, f"{SETUP}/resources", adding="1", code="部屋", name="x", capacity="1")
    assert 'data-error="resource.code">A code has 1 to 40 letters' in text(bad)
    assert post(client, f"{SETUP}/resources", code="aoi", name="あおい (店長)", capacity="1").status_code == 302
    with uow_factory() as uow:
        found = {
            r.code: (r.name, r.capacity, r.active)
            for r in reservations.list_resources(uow=uow, store_id=salon["store_id"])
        }
    assert found == {"aoi": ("あおい (店長)", 1, False), "ren": ("れん", 1, True), "room-1": ("個室", 2, True)}


def test_an_admin_adds_a_menu_taking_resources_and_edits_it(as_role, salon, uow_factory):
    client = as_role("admin")
    form = {
        "code": "color", "name": "カラー", "duration_minutes": "90", "price": "８,８００", "capacity": "1",
        "description": "  根元だけも可 ", "resources": ["aoi", "ren"], "active": "1",
    }  # fmt: skip
    assert post(client, f"{SETUP}/menus/new", **form).status_code == 302
    again = post(client, f"{SETUP}/menus/new", **form)
    assert again.status_code == 400 and 'data-error="code">There is already a menu with this code.' in text(again)
    page = text(client.get(f"{SETUP}/menus/color"))
    assert 'value="8800"' in page and 'value="aoi" checked' in page

    edited = post(client, f"{SETUP}/menus/color", **{**form, "resources": [], "capacity": "3", "active": ""})
    assert edited.status_code == 302
    with uow_factory() as uow:
        menu = reservations.get_menu(uow=uow, store_id=salon["store_id"], code="color")
        assert (menu.name, menu.duration_minutes, menu.price, menu.description, menu.active) == (
            "カラー", 90, 8800, "根元だけも可", False,
        )  # fmt: skip
        assert reservations.menu_capacity(uow=uow, menu_id=menu.id) == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration_minutes", "50.5", "A menu lasts 5 to 720 minutes, in steps of 5."),
        ("price", "-1", "A price is a whole number of yen."),
        ("name", " ", "A name is needed."),
        ("capacity", "0", "Places at the same time must be 1 to 1000."),
    ],
)
def test_a_refused_menu_value_is_shown_next_to_its_field(as_role, salon, uow_factory, field, value, message):
    form = {"code": "nail", "name": "ネイル", "duration_minutes": "60", "price": "4000", "capacity": "1", "active": "1"}
    response = post(as_role("admin"), f"{SETUP}/menus/new", **{**form, field: value})
    assert response.status_code == 400 and f'data-error="{field}">{message}</span>' in text(response)
    with uow_factory() as uow:
        assert reservations.get_menu(uow=uow, store_id=salon["store_id"], code="nail") is None


def test_the_japanese_setup_page_reads_in_japanese(as_role, salon):
    client = as_role("admin")
    with client.session_transaction() as session:
        session["lang"] = "ja"
    response = post(client, f"{SETUP}/settings", **{**SETTINGS, "hold_minutes": "31"})
    page = text(response)
    assert "予約の設定" in page and "A chosen time" not in page


def test_anonymous_visitors_are_sent_to_the_login_except_for_the_calendar_feed(client, salon):
    for path in ("/console/reservations", "/console/reservations/new", SETUP, "/console/reservations/bookings/1/move"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"], path
    assert client.get("/console/reservations/SALON/calendar.ics?token=x").status_code == 404
