"""Stores in the console: admins list, add, edit (details and business hours), close and reopen them."""

from __future__ import annotations

import pytest

from crm_core import hours, stores
from tests.integration.console.conftest import csrf_token

PAGE = "/console/stores"


def add(client, **fields):
    data = {"csrf_token": csrf_token(client, PAGE), "code": "shibuya", "name": "渋谷店", "address": "", "phone": ""}
    return client.post(PAGE, data={**data, **fields})


def edit_form(client, code: str = "SHIBUYA", **changes) -> dict:
    data = {
        "csrf_token": csrf_token(client, f"{PAGE}/{code}"),
        "name": "渋谷店",
        "address": "東京都渋谷区1-1",
        "phone": "03-1234-5678",
        "same_hours": "1",
        **{f"hours_{day}": "10:00-19:00" for day in hours.WEEKDAYS},
        "hours_dates": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def the_store(uow_factory, code: str = "SHIBUYA"):
    with uow_factory() as uow:
        return stores.get_store_by_code(uow=uow, code=code)


def test_an_admin_adds_a_store_and_sees_it_in_the_list(as_role, uow_factory):
    client = as_role("admin")
    empty = client.get(PAGE).get_data(as_text=True)
    assert "There are no stores yet." in empty and f'href="{PAGE}"' in empty  # in the navigation

    response = add(client, address=" 東京都渋谷区1-1 ", phone="０３ー１２３４ー５６７８")

    assert response.status_code == 302
    store = the_store(uow_factory)
    assert (store.code, store.name, store.address, store.phone, store.active) == (
        "SHIBUYA", "渋谷店", "東京都渋谷区1-1", "0312345678", True,
    )  # fmt: skip
    page = client.get(PAGE).get_data(as_text=True)
    assert "The store 渋谷店 was added." in page
    assert 'data-store="SHIBUYA"' in page and "0312345678" in page and "Open" in page


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"code": "渋谷"}, "code", "A store code has 1 to 32 letters, digits, - or _ (for example SHIBUYA)."),
        ({"name": "  "}, "name", "A store needs a name."),
        ({"phone": "123"}, "phone", "A phone number has 10 to 15 digits (dashes and spaces are fine)."),
        ({"address": "x" * 301}, "address", "An address has at most 300 characters."),
    ],
)
def test_bad_values_are_shown_next_to_the_field_and_change_nothing(as_role, uow_factory, fields, field, message):
    client = as_role("admin")
    response = add(client, **fields)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'data-field="{field}">{message}</span>' in page
    with uow_factory() as uow:
        assert stores.list_stores(uow=uow) == []


def test_a_code_that_is_taken_is_refused_not_overwritten(as_role, uow_factory):
    client = as_role("admin")
    add(client)
    response = add(client, code="SHIBUYA", name="別の店")
    assert response.status_code == 400
    assert 'data-field="code">There is already a store with this code.</span>' in response.get_data(as_text=True)
    assert the_store(uow_factory).name == "渋谷店"


def test_an_admin_edits_details_and_gives_the_store_its_own_hours(as_role, uow_factory, clock):
    client = as_role("admin")
    add(client)
    page = client.get(f"{PAGE}/shibuya").get_data(as_text=True)
    assert 'name="same_hours" value="1" checked' in page and 'value="10:00-19:00"' in page  # the shop's

    own = edit_form(client, same_hours=None, name="渋谷本店", hours_mon="", hours_sat="10:00-14:00, 15:00-20:00",
                    hours_dates="2026-12-31\n2026-12-30 10:00-15:00")  # fmt: skip
    response = client.post(f"{PAGE}/SHIBUYA", data=own)

    assert response.status_code == 302
    store = the_store(uow_factory)
    assert (store.name, store.address, store.phone) == ("渋谷本店", "東京都渋谷区1-1", "0312345678")
    with uow_factory() as uow:
        store_hours = hours.hours_for_store(uow=uow, store=store)
    assert store_hours.weekly_text()["mon"] == "" and store_hours.weekly_text()["sat"] == "10:00-14:00, 15:00-20:00"
    assert store_hours.dates_text() == "2026-12-30 10:00-15:00\n2026-12-31"
    page = client.get(f"{PAGE}/SHIBUYA").get_data(as_text=True)
    assert "The store 渋谷本店 was saved." in page and 'name="same_hours" value="1">' in page

    client.post(f"{PAGE}/SHIBUYA", data=edit_form(client, name="渋谷本店"))
    assert the_store(uow_factory).business_hours is None, "ticked again: the shop's hours"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"hours_tue": "10-19"}, "hours_tue", "Tuesday: write the hours like 10:00-19:00"),
        ({"hours_fri": "19:00-10:00"}, "hours_fri", "Friday: 19:00-10:00 closes before it opens"),
        ({"hours_dates": "2026-13-01"}, "hours_dates", "2026-13-01 is not a date like 2026-12-31."),
        ({"name": ""}, "name", "A store needs a name."),
    ],
)
def test_bad_hours_are_shown_next_to_their_day_and_change_nothing(as_role, uow_factory, changes, field, message):
    client = as_role("admin")
    add(client)
    response = client.post(f"{PAGE}/SHIBUYA", data=edit_form(client, same_hours=None, **changes))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'data-field="{field}">{message}' in page
    store = the_store(uow_factory)
    assert (store.name, store.address, store.business_hours) == ("渋谷店", None, None)


def test_close_and_reopen(as_role, uow_factory):
    client = as_role("admin")
    add(client)
    token = csrf_token(client, f"{PAGE}/SHIBUYA")

    closed = client.post(f"{PAGE}/SHIBUYA/close", data={"csrf_token": token})
    assert closed.status_code == 302 and the_store(uow_factory).active is False
    page = client.get(f"{PAGE}/SHIBUYA").get_data(as_text=True)
    assert "no longer offered at the till" in page and "Reopen the store" in page
    assert "Closed" in client.get(PAGE).get_data(as_text=True)

    client.post(f"{PAGE}/SHIBUYA/reopen", data={"csrf_token": token})
    assert the_store(uow_factory).active is True


@pytest.mark.parametrize("role", ["staff", "marketer"])
def test_only_admins_manage_stores(as_role, uow_factory, role):
    with uow_factory() as uow:
        stores.upsert_store(uow=uow, code="SHIBUYA", name="渋谷店")
        uow.commit()
    client = as_role(role)
    assert f'href="{PAGE}"' not in client.get("/console/till").get_data(as_text=True)
    token = csrf_token(client, "/console/till")

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"csrf_token": token, "code": "UMEDA", "name": "梅田店"}).status_code == 403
    assert client.post(f"{PAGE}/SHIBUYA/close", data={"csrf_token": token}).status_code == 403
    assert the_store(uow_factory).active is True and the_store(uow_factory, "UMEDA") is None


def test_forms_need_csrf_and_unknown_stores_are_404(as_role, uow_factory):
    client = as_role("admin")
    add(client)
    assert client.post(PAGE, data={"code": "UMEDA", "name": "梅田店"}).status_code == 400
    assert client.post(f"{PAGE}/SHIBUYA/close", data={}).status_code == 400
    assert the_store(uow_factory, "UMEDA") is None and the_store(uow_factory).active is True
    assert client.get(f"{PAGE}/NOWHERE").status_code == 404
    assert client.post(f"{PAGE}/NOWHERE/close", data={"csrf_token": csrf_token(client, PAGE)}).status_code == 404


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_store_pages_render_in_both_languages(as_role, uow_factory, lang):
    client = as_role("admin")
    add(client)
    with client.session_transaction() as session:
        session["lang"] = lang
    for path in (PAGE, f"{PAGE}/SHIBUYA"):
        page = client.get(path).get_data(as_text=True)
        assert f'<html lang="{lang}">' in page
        assert "{{" not in page and "%(" not in page
    if lang == "ja":
        assert "月曜日" in page and "店舗" in page
        bad = client.post(f"{PAGE}/SHIBUYA", data=edit_form(client, same_hours=None, hours_mon="9-5"))
        assert "月曜日：営業時間は 10:00-19:00 のように" in bad.get_data(as_text=True)
