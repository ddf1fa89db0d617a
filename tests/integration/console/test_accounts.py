# ruff: noqa: S105, S106  (test passwords)
"""Console accounts: admins invite, disable and reset; password links work once; sessions end at once."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import pytest

from crm_core import staff
from crm_core.models import Store
from tests.integration.console.conftest import PASSWORD, csrf_token, log_in

PAGE = "/console/staff"
NEW_PASSWORD = "a brand new passphrase"
_LINK = re.compile(r'data-field="password_link" value="([^"]+)"|value="([^"]+)"[^>]*data-field="password_link"')


def link_path(page: str) -> str:
    match = _LINK.search(page)
    assert match, "no password link on the page"
    url = unescape(match.group(1) or match.group(2))
    assert url.startswith("https://kizuna.test/console/invite/")
    return urlsplit(url).path


def account(uow_factory, email: str):
    with uow_factory() as uow:
        return staff.get_staff_user_by_email(uow=uow, email=email)


@pytest.fixture
def shibuya(uow_factory) -> Store:
    with uow_factory() as uow:
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.commit()
        return store


def invite(client, **changes):
    data = {"csrf_token": csrf_token(client, PAGE), "email": "Hana@Shop.example", "display_name": "Hana"}
    data.update({"role": "staff", "home_store": "SHIBUYA", **changes})
    return client.post(PAGE, data=data)


def set_password(client, path: str, password: str = NEW_PASSWORD, confirmation: str | None = None, form=None):
    data = {"csrf_token": csrf_token(client, form or path), "password": password}
    data["confirmation"] = confirmation or password
    return client.post(path, data=data)


def test_an_invited_person_sets_a_password_once_and_logs_in(as_role, app, uow_factory, shibuya):
    admin = as_role("admin")
    response = invite(admin)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    path = link_path(page)
    invited = account(uow_factory, "hana@shop.example")
    assert (invited.role, invited.home_store_id, invited.display_name) == ("staff", shibuya.id, "Hana")
    assert "渋谷店" in page and "Never" in page

    person = app.test_client()
    assert log_in(person, "hana@shop.example", "").status_code == 401, "no usable password before the link"
    form = person.get(path)
    assert form.status_code == 200 and "hana@shop.example" in form.get_data(as_text=True)
    assert set_password(person, path).headers["Location"].endswith("/console/login")
    assert log_in(person, "hana@shop.example", NEW_PASSWORD).status_code == 302
    assert person.get("/console/till").status_code == 200

    other = app.test_client()
    assert other.get(path).status_code == 410, "the link works once"
    assert set_password(other, path, "someone else's pass", form="/console/login").status_code == 410
    assert log_in(other, "hana@shop.example", NEW_PASSWORD).status_code == 302


def test_the_password_form_refuses_short_or_different_passwords(as_role, app, shibuya):
    path = link_path(invite(as_role("admin")).get_data(as_text=True))
    person = app.test_client()
    with person.session_transaction() as session:
        session["lang"] = "en"

    short = set_password(person, path, "short")
    assert short.status_code == 400
    assert 'data-field="password">The password needs at least 10 characters.' in short.get_data(as_text=True)
    different = set_password(person, path, NEW_PASSWORD, "another passphrase")
    assert different.status_code == 400
    assert 'data-field="confirmation">The two passwords are not the same.' in different.get_data(as_text=True)

    assert set_password(person, path).status_code == 302, "the link still works after refused tries"


def test_an_invitation_link_expires_after_72_hours(as_role, app, clock, shibuya):
    path = link_path(invite(as_role("admin")).get_data(as_text=True))
    person = app.test_client()
    clock.advance(hours=71, minutes=59)
    assert person.get(path).status_code == 200
    clock.advance(minutes=1)

    assert person.get(path).status_code == 410
    assert set_password(person, path, form="/console/login").status_code == 410


def test_a_tampered_link_is_refused(as_role, app, shibuya):
    path = link_path(invite(as_role("admin")).get_data(as_text=True))
    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    person = app.test_client()
    for bad in (tampered, "nonsense", token + "x"):
        assert person.get(f"/console/invite/{bad}").status_code == 404
    assert person.get(path).status_code == 200


def test_a_disabled_account_is_logged_out_at_its_next_request(as_role, app, accounts, uow_factory):
    till = app.test_client()
    assert log_in(till, accounts["staff"]).status_code == 302
    assert till.get("/console/till").status_code == 200
    admin = as_role("admin")
    user = account(uow_factory, accounts["staff"])

    response = admin.post(f"{PAGE}/{user.id}/disable", data={"csrf_token": csrf_token(admin, PAGE)})

    assert response.status_code == 302
    assert "was disabled" in admin.get(PAGE).get_data(as_text=True)
    assert urlsplit(till.get("/console/till").headers["Location"]).path == "/console/login"
    assert log_in(till, accounts["staff"]).status_code == 401

    admin.post(f"{PAGE}/{user.id}/enable", data={"csrf_token": csrf_token(admin, PAGE)})
    assert log_in(till, accounts["staff"]).status_code == 302, "enabled again, the old password works"


def test_a_password_reset_ends_open_sessions_and_voids_the_old_password(as_role, app, accounts, uow_factory):
    marketer = app.test_client()
    assert log_in(marketer, accounts["marketer"]).status_code == 302
    admin = as_role("admin")
    user = account(uow_factory, accounts["marketer"])

    response = admin.post(f"{PAGE}/{user.id}/reset-password", data={"csrf_token": csrf_token(admin, PAGE)})

    assert response.status_code == 200
    path = link_path(response.get_data(as_text=True))
    assert marketer.get("/console/program").status_code == 302, "the open session ended"
    assert log_in(marketer, accounts["marketer"], PASSWORD).status_code == 401, "the old password fails"
    assert set_password(marketer, path).status_code == 302
    assert log_in(marketer, accounts["marketer"], NEW_PASSWORD).status_code == 302
    assert marketer.get("/console/program").status_code == 200


def test_an_admin_cannot_disable_themselves_or_the_last_admin(as_role, accounts, uow_factory):
    admin = as_role("admin")
    me = account(uow_factory, accounts["admin"])

    admin.post(f"{PAGE}/{me.id}/disable", data={"csrf_token": csrf_token(admin, PAGE)})
    assert "You cannot disable your own account." in admin.get(PAGE).get_data(as_text=True)
    admin.post(f"{PAGE}/{me.id}", data={"csrf_token": csrf_token(admin, PAGE), "role": "staff", "home_store": ""})
    assert "at least one active admin" in admin.get(PAGE).get_data(as_text=True)
    assert account(uow_factory, accounts["admin"]).role == "admin"
    assert account(uow_factory, accounts["admin"]).active


def test_an_admin_changes_role_and_home_store(as_role, accounts, uow_factory, shibuya):
    admin = as_role("admin")
    user = account(uow_factory, accounts["staff"])

    data = {"csrf_token": csrf_token(admin, PAGE), "role": "marketer", "home_store": "shibuya"}
    assert admin.post(f"{PAGE}/{user.id}", data=data).status_code == 302

    changed = account(uow_factory, accounts["staff"])
    assert (changed.role, changed.home_store_id) == ("marketer", shibuya.id)
    data = {"csrf_token": csrf_token(admin, PAGE), "role": "marketer", "home_store": "NOWHERE"}
    admin.post(f"{PAGE}/{user.id}", data=data)
    assert "There is no store with the code NOWHERE." in admin.get(PAGE).get_data(as_text=True)
    assert account(uow_factory, accounts["staff"]).home_store_id == shibuya.id


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "Enter a valid e-mail address."),
        ({"email": "owner@example.jp"}, "email", "An account with this e-mail already exists."),
        ({"role": "owner"}, "role", "The role must be staff, marketer or admin."),
        ({"home_store": "NOWHERE"}, "home_store", "There is no store with the code NOWHERE."),
    ],
)
def test_a_bad_invitation_is_refused_next_to_the_field(as_role, uow_factory, shibuya, changes, field, message):
    admin = as_role("admin")
    response = invite(admin, **changes)

    assert response.status_code == 400
    assert f'data-field="{field}">{message}</span>' in response.get_data(as_text=True)
    with uow_factory() as uow:
        assert len(staff.list_staff_users(uow=uow)) == 3


def test_the_staff_list_shows_the_last_login_in_business_time(as_role, clock):
    admin = as_role("admin")
    with admin.session_transaction() as session:
        session["lang"] = "ja"
    page = admin.get(PAGE).get_data(as_text=True)
    assert "2026年11月22日(日) 12:00" in page  # logged in at 03:00 UTC, noon in Tokyo
    assert 'href="/console/staff"' in page and 'href="/console/tokens"' in page


@pytest.mark.parametrize("role", ["staff", "marketer"])
def test_staff_and_marketers_get_403_and_no_links(as_role, accounts, uow_factory, role):
    client = as_role(role)
    page = client.get("/console/").get_data(as_text=True)
    assert 'href="/console/staff"' not in page and 'href="/console/tokens"' not in page
    token = csrf_token(client, "/console/")
    admin = account(uow_factory, accounts["admin"])

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"csrf_token": token, "email": "x@y.example", "role": "admin"}).status_code == 403
    assert client.post(f"{PAGE}/{admin.id}/disable", data={"csrf_token": token}).status_code == 403
    assert client.post(f"{PAGE}/{admin.id}/reset-password", data={"csrf_token": token}).status_code == 403
    assert account(uow_factory, accounts["admin"]).active
    assert account(uow_factory, "x@y.example") is None


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_account_pages_render_in_both_languages(as_role, app, lang, shibuya):
    admin = as_role("admin")
    with admin.session_transaction() as session:
        session["lang"] = lang
    path = link_path(invite(admin).get_data(as_text=True))
    person = app.test_client()
    with person.session_transaction() as session:
        session["lang"] = lang
    for client, url in ((admin, PAGE), (admin, "/console/tokens"), (person, path)):
        page = client.get(url).get_data(as_text=True)
        assert f'<html lang="{lang}">' in page
        assert "{{" not in page and "%(" not in page
    if lang == "ja":
        assert "スタッフ" in admin.get(PAGE).get_data(as_text=True)


def test_the_till_starts_at_the_staff_members_home_store(as_role, accounts, uow_factory, shibuya):
    with uow_factory() as uow:
        uow.session.add(Store(code="UMEDA", name="梅田店", created_at=uow.now()))
        staff.set_home_store(uow=uow, staff_user_id=account(uow_factory, accounts["staff"]).id, store_code="SHIBUYA")
        uow.commit()
    till = as_role("staff")

    page = till.get("/console/till").get_data(as_text=True)

    assert "渋谷店" in page and "梅田店" not in page, "no store to choose: the home store is preselected"
    assert 'name="code"' in page, "the scan form is ready"
    assert "梅田店" in till.get("/console/till?change=1").get_data(as_text=True), "another store can still be chosen"


def test_an_admin_sees_where_a_person_is_logged_in_and_ends_one_session_or_all(
    as_role, app, accounts, uow_factory, clock
):
    phone, tablet = app.test_client(), app.test_client()
    android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
    ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1"
    phone.environ_base.update(HTTP_USER_AGENT=android, REMOTE_ADDR="198.51.100.5")
    tablet.environ_base.update(HTTP_USER_AGENT=ipad, REMOTE_ADDR="198.51.100.6")
    assert log_in(phone, accounts["staff"]).status_code == 302
    clock.advance(minutes=2)
    assert log_in(tablet, accounts["staff"]).status_code == 302
    admin = as_role("admin")
    user = account(uow_factory, accounts["staff"])
    sessions_page = f"{PAGE}/{user.id}/sessions"

    listing = admin.get(sessions_page).get_data(as_text=True)
    assert "Chrome on Android" in listing and "198.51.100.5" in listing
    assert "Safari on iPad" in listing and "198.51.100.6" in listing
    assert phone.get_cookie("session").value not in listing

    first = listing.split('name="session" value="')[1].split('"')[0]  # the most recently seen: the tablet
    admin.post(f"{sessions_page}/end", data={"csrf_token": csrf_token(admin, sessions_page), "session": first})
    assert tablet.get("/console/").status_code == 302, "the ended session is logged out"
    assert phone.get("/console/").status_code == 200, "the other one stays"

    admin.post(f"{sessions_page}/end", data={"csrf_token": csrf_token(admin, sessions_page), "all": "1"})
    assert phone.get("/console/").status_code == 302
    assert "not logged in anywhere" in admin.get(sessions_page).get_data(as_text=True)
    assert log_in(phone, accounts["staff"]).status_code == 302
    assert phone.get(sessions_page).status_code == 403, "only admins see sessions"
