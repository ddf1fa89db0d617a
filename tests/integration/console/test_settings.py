"""Shop settings: admins name the shop, give the privacy contact and purposes, quiet hours and LINE ids;
the dashboard's checklist says what is missing; the LINE channel is verified through LINE's own APIs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm_core import hours, shop
from crm_core.models import Store
from tests.integration.console.conftest import csrf_token

PAGE = "/console/settings"


def form(client, **changes) -> dict:
    data = {
        "csrf_token": csrf_token(client, PAGE),
        "name": "Café Mori",
        "privacy_contact": "Café Mori お客様窓口 privacy@cafe-mori.example",
        "purpose_of_use": "Running the point card\nSending offers",
        "line_basic_id": "@123abcde",
        "add_friend_url": "https://lin.ee/AbC123",
        "quiet_hours": "20:30-08:00",
        **{f"hours_{day}": "10:00-19:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        "hours_wed": "",
        "hours_dates": "2026-12-31\n2026-12-30 10:00-15:00",
    }
    data.update(changes)
    return data


def profile(uow_factory) -> shop.ShopProfile:
    with uow_factory() as uow:
        return shop._read_profile(uow=uow)


def test_an_admin_sets_up_the_shop_and_customers_see_it(as_role, uow_factory, client):
    admin = as_role("admin")
    page = admin.get(PAGE).get_data(as_text=True)
    assert 'name="privacy_contact"' in page and "privacy@example.com" not in page  # the placeholder is not offered

    response = admin.post(PAGE, data=form(admin))

    assert response.status_code == 302
    saved = profile(uow_factory)
    assert saved.name == "Café Mori" and saved.quiet_hours == "20:30-08:00"
    assert saved.line_basic_id == "@123abcde" and saved.add_friend_url == "https://lin.ee/AbC123"
    assert saved.purposes == ["Running the point card", "Sending offers"]
    assert saved.notice_version == "2026-11-22"  # a new purpose of use is a new version of the notice
    with uow_factory() as uow:
        shop_hours = hours.get_shop_hours(uow=uow)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert not shop_hours.is_open(datetime(2026, 11, 25, 12, 0, tzinfo=tokyo), tokyo)  # a Wednesday: closed
    assert shop_hours.is_open(datetime(2026, 11, 26, 12, 0, tzinfo=tokyo), tokyo)
    assert shop_hours.next_opening(datetime(2026, 12, 30, 16, 0, tzinfo=tokyo), tokyo) == datetime(
        2027, 1, 1, 10, 0, tzinfo=tokyo
    )
    privacy = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "<li>Sending offers</li>" in privacy and "privacy@cafe-mori.example" in privacy
    assert "Café Mori" in privacy


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name", "  ", "This field is required."),
        ("privacy_contact", "privacy@example.com", "own contact point for privacy questions"),
        ("quiet_hours", "21時から", "Write the quiet hours like 21:00-09:00, or off."),
        ("quiet_hours", "09:00-09:00", "Write the quiet hours like 21:00-09:00, or off."),
        ("line_basic_id", "@!", "A LINE basic ID looks like @123abcde."),
        ("add_friend_url", "http://lin.ee/abc", "An add-friend link starts with https://lin.ee/"),
        ("hours_tue", "19:00-10:00", "Tuesday: 19:00-10:00 closes before it opens"),
        ("hours_dates", "2026/12/31", "is not a date like 2026-12-31."),
    ],
)
def test_a_wrong_field_is_named_beside_it_and_nothing_is_saved(as_role, uow_factory, field, value, reason):
    admin = as_role("admin")

    response = admin.post(PAGE, data=form(admin, **{field: value}))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'data-error="{field}"' in page and reason in page
    assert profile(uow_factory).name == "Kizuna"  # nothing saved


def test_quiet_hours_accept_off_and_full_width_digits(as_role, uow_factory):
    admin = as_role("admin")
    assert admin.post(PAGE, data=form(admin, quiet_hours="ｏｆｆ")).status_code == 302
    assert profile(uow_factory).quiet_hours == "off"
    assert admin.post(PAGE, data=form(admin, quiet_hours="２２：００〜０８：００")).status_code == 302
    assert profile(uow_factory).quiet_hours == "22:00-08:00"


def test_the_page_says_when_the_environment_overrides_quiet_hours(accounts, settings, services, clock):
    from dataclasses import replace

    from bot.app import create_app
    from tests.integration.console.conftest import log_in

    app = create_app(replace(settings, quiet_hours="off"), services=services)
    services.settings = replace(settings, quiet_hours="off")
    client = app.test_client()
    log_in(client, accounts["admin"])
    page = client.get(PAGE).get_data(as_text=True)
    assert 'data-note="quiet_hours_env"' in page and "KIZUNA_QUIET_HOURS=off" in page


@pytest.mark.parametrize("role", ["staff", "marketer"])
def test_only_admins_open_the_settings(as_role, role):
    client = as_role(role)
    assert client.get(PAGE).status_code == 403
    assert 'href="/console/settings"' not in client.get("/console/").get_data(as_text=True)


def test_the_checklist_names_what_is_missing_until_the_shop_is_set_up(as_role, uow_factory, line):
    admin = as_role("admin")  # the fixture's accounts include a staff and a marketer account
    page = admin.get("/console/").get_data(as_text=True)
    for key in ("shop_name", "privacy_contact", "store", "line"):
        assert f'data-todo="{key}"' in page
    assert 'data-todo="staff"' not in page
    assert '<a href="/console/settings#privacy">' in page

    admin.post(PAGE, data=form(admin))
    with uow_factory() as uow:
        uow.session.add(Store(code="MAIN", name="本店", created_at=uow.now()))
        uow.commit()
    line.webhook_url = "https://127.0.0.1:9/callback"  # nothing listens there (tests stay on loopback)
    page = admin.get("/console/").get_data(as_text=True)
    assert 'data-todo="shop_name"' not in page and 'data-todo="store"' not in page
    assert 'data-todo="line"' in page

    admin.post("/console/settings/line-check", data={"csrf_token": csrf_token(admin, PAGE)})
    # not this server's URL, and LINE's test call cannot connect: the check fails and the item stays
    page = admin.get("/console/").get_data(as_text=True)
    assert 'data-todo="line"' in page


def test_staff_see_no_checklist(as_role):
    page = as_role("staff").get("/console/").get_data(as_text=True)
    assert "data-todo" not in page


def test_verifying_the_channel_shows_what_line_has(as_role, live_app, line, uow_factory):
    from bot.console.session import kizuna  # noqa: F401  (the app under test is live_app)

    admin = as_role("admin")
    line.webhook_url = live_app.config["LIVE_URL"] + "/callback"
    live_app.extensions["kizuna"].settings = _with_public_url(live_app, live_app.config["LIVE_URL"])

    page = admin.post("/console/settings/line-check", data={"csrf_token": csrf_token(admin, PAGE)})
    text = page.get_data(as_text=True)

    assert page.status_code == 200
    assert 'data-ok="yes"' in text
    assert 'data-check="bot_name">Kizuna<' in text and "@kizuna" in text
    assert "this server's /callback" in text and "reached this server" in text
    assert "Webhook redelivery" in text
    with uow_factory() as uow:
        assert shop.last_line_check(uow=uow)["ok"] is True
    assert 'data-todo="line"' not in admin.get("/console/").get_data(as_text=True)
    assert "Verified" in admin.get(PAGE).get_data(as_text=True)


def test_a_webhook_url_that_is_not_ours_is_named(as_role, line):
    admin = as_role("admin")
    line.webhook_url = "https://127.0.0.1:9/hook"  # another server's URL, where nothing answers

    text = admin.post("/console/settings/line-check", data={"csrf_token": csrf_token(admin, PAGE)}).get_data(
        as_text=True
    )

    assert 'data-ok="no"' in text
    assert "not this server's https://kizuna.test/callback" in text
    assert "failed (0 COULD_NOT_CONNECT)" in text


def test_a_wrong_access_token_is_named(as_role, line, services):
    admin = as_role("admin")
    line.channel_access_token = "another-token"
    try:
        text = admin.post("/console/settings/line-check", data={"csrf_token": csrf_token(admin, PAGE)}).get_data(
            as_text=True
        )
    finally:
        line.channel_access_token = "test-channel-access-token"
    assert "LINE refused the channel access token" in text
    assert [(r["path"], r["status"]) for r in line.invalid_requests] == [("/v2/bot/info", 401)]
    line.invalid_requests.clear()  # the refusal this test asked for


def test_the_system_page_holds_events_outbox_and_jobs_for_admins(as_role):
    admin = as_role("admin")
    page = admin.get("/console/system").get_data(as_text=True)
    assert 'data-job="outbox.deliver"' in page and 'data-count="outbox_failed"' in page
    nav = admin.get("/console/").get_data(as_text=True)
    assert 'href="/console/system"' in nav and ">Failed events</a>" not in nav


def _with_public_url(app, url):
    from dataclasses import replace

    return replace(app.extensions["kizuna"].settings, public_url=url)
