"""Staff find a customer by フリガナ or name in any kana, with or without the space, and by phone in any format,
whichever path wrote the customer: the API, the CSV import, LINE registration, a direct service call."""

from __future__ import annotations

import pytest

from crm_core import api_tokens, channels, customers, membership
from crm_core.imports import import_customers

KANA_QUERIES = ["やまだはなこ", "やまだ はなこ", "ヤマダ ハナコ", "ﾔﾏﾀﾞﾊﾅｺ", "ハナコ", "山田花子", "山田　花子"]
PHONE_QUERIES = ["09012345678", "090-1234-5678", "０９０－１２３４－５６７８", "5678"]


def found(uow_factory, text: str) -> list[str]:
    with uow_factory() as uow:
        return [customer.name for customer in customers.search(uow=uow, text=text)]


@pytest.fixture
def someone_else(uow_factory):
    with uow_factory() as uow:
        customers.create_customer(uow=uow, name="佐藤 健", name_kana="サトウ ケン", phone="03-9999-0000")
        uow.commit()


def written_by_the_service(uow_factory, client, tmp_path):
    with uow_factory() as uow:
        customers.create_customer(uow=uow, name="山田 花子", name_kana="ヤマダ ハナコ", phone="090-1234-5678")
        uow.commit()


def written_by_the_api(uow_factory, client, tmp_path):
    with uow_factory() as uow:
        _, token = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    body = {"external_id": "POS-1", "name": "山田 花子", "name_kana": "やまだ はなこ", "phone": "090 1234 5678"}
    response = client.post("/api/v1/customers", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.get_data(as_text=True)


def written_by_the_import(uow_factory, client, tmp_path):
    path = tmp_path / "customers.csv"
    rows = "会員ID,氏名,フリガナ,電話番号\nC001,山田 花子,ﾔﾏﾀﾞ ﾊﾅｺ,０９０－１２３４－５６７８\n"
    path.write_text(rows, encoding="utf-8")
    report = import_customers(uow_factory=uow_factory, path=path)
    assert report.errors == [] and report.imported == 1


def updated_by_a_reimport(uow_factory, client, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("会員ID,氏名\nC001,山田 花子\n", encoding="utf-8")
    import_customers(uow_factory=uow_factory, path=path)
    path.write_text("会員ID,氏名,フリガナ,電話番号\nC001,山田 花子,ヤマダ ハナコ,090-1234-5678\n", encoding="utf-8")
    report = import_customers(uow_factory=uow_factory, path=path)
    assert report.errors == [] and report.updated == 1


def updated_through_the_api(uow_factory, client, tmp_path):
    with uow_factory() as uow:
        customers.create_customer(uow=uow, name="Hanako", external_id="POS-1")
        _, token = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    body = {"external_id": "POS-1", "name": "山田 花子", "name_kana": "ヤマダハナコ", "phone": "09012345678"}
    response = client.post("/api/v1/customers", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)


def registered_on_line(uow_factory) -> None:
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address="U" + "a" * 32)
        channels.record_consent(uow=uow, identity=identity, notice_version="2026-11")
        membership.register_new_member(uow=uow, identity=identity, name="山田 花子")
        uow.commit()


PATHS = [written_by_the_service, written_by_the_api, written_by_the_import, updated_by_a_reimport]
PATHS += [updated_through_the_api]


@pytest.mark.parametrize("write", PATHS, ids=lambda write: write.__name__)
def test_a_customer_is_found_by_kana_and_by_phone(write, uow_factory, client, tmp_path, someone_else):
    write(uow_factory, client, tmp_path)
    for query in KANA_QUERIES + PHONE_QUERIES:
        assert found(uow_factory, query) == ["山田 花子"], query
    assert found(uow_factory, "さとう") == ["佐藤 健"]


def test_a_member_registered_on_line_is_found_by_name_without_the_space(uow_factory, someone_else):
    registered_on_line(uow_factory)  # フリガナ and phone come from the profile page (tests/e2e/test_profile_on_line.py)
    assert found(uow_factory, "山田花子") == ["山田 花子"]


def test_percent_and_underscore_are_taken_literally(uow_factory, someone_else):
    with uow_factory() as uow:
        customers.create_customer(uow=uow, name="100%_club")
        uow.commit()
    assert found(uow_factory, "%") == ["100%_club"]
    assert found(uow_factory, "_") == ["100%_club"]
    assert found(uow_factory, "0%_c") == ["100%_club"]


def test_an_erased_customer_is_found_by_nothing(uow_factory):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子", name_kana="ヤマダ ハナコ", phone="09012345678")
        customers.erase_customer(uow=uow, customer_id=customer.id)
        uow.commit()
    with uow_factory() as uow:
        erased = customers.get_customer(uow=uow, customer_id=customer.id)
        assert erased.search_key is None and erased.birth_month is None
    assert found(uow_factory, "やまだ") == [] and found(uow_factory, "09012345678") == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "090-1234"), ("phone", "tel 0312345678"), ("email", "hanako@"), ("name_kana", "山田")],
)
def test_the_api_refuses_a_bad_phone_email_or_kana_naming_the_field(uow_factory, client, field, value):
    with uow_factory() as uow:
        _, token = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    body = {"external_id": "POS-1", "name": "山田 花子", field: value}
    response = client.post("/api/v1/customers", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(f"{field}: ")
    assert found(uow_factory, "山田") == []


def test_the_api_stores_phone_and_email_normalized(uow_factory, client):
    with uow_factory() as uow:
        _, token = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    body = {"external_id": "POS-1", "name": "山田 花子", "phone": "０９０－１２３４－５６７８"}
    body["email"] = " Hanako@Example.JP"
    assert client.post("/api/v1/customers", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 201
    with uow_factory() as uow:
        customer = customers.get_by_external_id(uow=uow, external_id="POS-1")
        assert (customer.phone, customer.email) == ("09012345678", "hanako@example.jp")


def test_the_import_reports_a_bad_phone_email_or_kana_by_line(uow_factory, tmp_path):
    path = tmp_path / "customers.csv"
    rows = ["external_id,name,name_kana,phone,email", "C1,A,,090-1234,", "C2,B,,,b@", "C3,C,山田,,", "C4,D,ディー,,"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = import_customers(uow_factory=uow_factory, path=path)
    assert [problem.describe() for problem in report.errors] == [
        "line 2: phone is not a phone number (10 to 15 digits; dashes and spaces are fine)",
        "line 3: email is not an e-mail address",
        "line 4: name_kana must be written in kana, for example ヤマダ ハナコ",
    ]
    assert report.imported == 1
