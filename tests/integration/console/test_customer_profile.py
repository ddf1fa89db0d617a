"""Staff see and correct a customer's profile on the customer screen; bad input is shown next to the field."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from crm_core import customers
from crm_core.models import Store, TimelineEntry
from tests.integration.console.conftest import csrf_token


@pytest.fixture
def hanako(uow_factory) -> int:
    with uow_factory() as uow:
        for code, name, active in (("SHIBUYA", "渋谷店", True), ("GINZA", "銀座店", False)):
            uow.session.add(Store(code=code, name=name, active=active, created_at=uow.now()))
        customer = customers.create_customer(uow=uow, name="山田 花子", email="old@example.jp")
        uow.commit()
        return customer.id


def store_id(uow_factory, code: str) -> int:
    with uow_factory() as uow:
        return uow.session.exec(select(Store).where(Store.code == code)).one().id


def form(client, customer_id: int, **changes) -> dict:
    data = {"csrf_token": csrf_token(client, f"/console/customers/{customer_id}")}
    data |= {"name": "山田 花子", "name_kana": "", "birth_month": "", "birth_day": "", "birth_year": ""}
    data |= {"phone": "", "email": "old@example.jp", "home_store": ""}
    return data | changes


def test_staff_correct_the_profile_and_the_customer_is_found_by_the_new_kana(as_role, hanako, uow_factory):
    client = as_role("staff")
    page = f"/console/customers/{hanako}"
    shibuya = store_id(uow_factory, "SHIBUYA")
    changes = {"name_kana": "やまだ はなこ", "birth_month": "４", "birth_day": "12", "phone": "090-1234-5678"}
    changes |= {"email": "Hanako@Example.jp", "home_store": str(shibuya)}

    response = client.post(page, data=form(client, hanako, **changes))

    assert response.status_code == 302
    shown = client.get(page).get_data(as_text=True)
    assert "The profile was saved." in shown
    assert 'data-field="birthday">April 12<' in shown and 'data-field="home_store">渋谷店<' in shown
    with uow_factory() as uow:
        customer = customers.get_customer(uow=uow, customer_id=hanako)
        assert (customer.name_kana, customer.phone, customer.email) == (
            "ヤマダ ハナコ",
            "09012345678",
            "hanako@example.jp",
        )
        assert [c.id for c in customers.search(uow=uow, text="ﾔﾏﾀﾞﾊﾅｺ")] == [hanako]
        assert [c.id for c in customers.search(uow=uow, text="０９０－１２３４－５６７８")] == [hanako]
        entry = uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "profile_changed")).one()
        assert entry.staff_user_id is not None
    timeline = re.search(r'data-kind="profile_changed">(.*?)</li>', shown, re.S).group(1)
    assert "Profile corrected by staff: Furigana, Birthday, Phone, E-mail address, Home store" in timeline
    assert "0901" not in timeline and "hanako@" not in timeline  # which fields, never their values


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "A name is required."),
        ({"name_kana": "Yamada"}, "name_kana", "Write the reading (furigana) in kana"),
        ({"phone": "1234"}, "phone", "A phone number has 10 to 15 digits"),
        ({"email": "hanako@"}, "email", "Enter a valid e-mail address."),
        ({"birth_month": "13", "birth_day": "1"}, "birthday", "There is no such day in the calendar."),
        ({"birth_day": "1"}, "birthday", "Enter both the month and the day"),
        ({"birth_month": "x", "birth_day": "1"}, "birthday", "Write the birthday in numbers"),
        ({"home_store": "GINZA"}, "home_store", "Choose one of the stores in the list."),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_changes_nothing(
    as_role, hanako, uow_factory, changes, field, message
):
    client = as_role("staff")
    if changes.get("home_store") == "GINZA":
        changes = {"home_store": str(store_id(uow_factory, "GINZA"))}  # closed: no longer offered
    data = form(client, hanako, **({"phone": "03-1234-5678"} | changes))
    response = client.post(f"/console/customers/{hanako}", data=data)

    assert response.status_code == 400
    shown = re.search(rf'data-error="{field}">([^<]*)<', response.get_data(as_text=True))
    assert shown and message in shown.group(1)
    with uow_factory() as uow:
        customer = customers.get_customer(uow=uow, customer_id=hanako)
        assert (customer.name, customer.phone, customer.email) == ("山田 花子", None, "old@example.jp")
        assert uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "profile_changed")).all() == []


def test_without_a_csrf_token_or_a_login_nothing_changes(client, as_role, hanako, uow_factory):
    anonymous = client.post(f"/console/customers/{hanako}", data={"name": "別人"})
    assert anonymous.status_code in (302, 400)
    as_role("staff")
    assert client.post(f"/console/customers/{hanako}", data={"name": "別人"}).status_code == 400
    with uow_factory() as uow:
        assert customers.get_customer(uow=uow, customer_id=hanako).name == "山田 花子"


def test_the_japanese_page_shows_the_form_and_the_birthday_the_japanese_way(as_role, hanako, uow_factory):
    client = as_role("staff")
    client.post(f"/console/customers/{hanako}", data=form(client, hanako, birth_month="4", birth_day="12"))
    with client.session_transaction() as session:
        session["lang"] = "ja"
    page = client.get(f"/console/customers/{hanako}").get_data(as_text=True)
    assert 'data-field="birthday">4月12日<' in page
    assert "会員情報を編集" in page and "フリガナ" in page
    assert "スタッフが会員情報を変更しました：誕生日" in page
