"""The automations console: switches, hold-out share and wording previewed for a real customer, the weekly cap and
quiet hours, "run now" reaching the LINE emulator, and the per-day results against the hold-out group."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from crm_core import automations, channels, customers, purchases, shop, stores
from crm_core.models import AutomationDecision, OutboxMessage, Purchase
from tests.integration.console.conftest import csrf_token

LIST = "/console/automations"
EDIT = "/console/automations/first_purchase"
PREVIEW = "/console/automations/first_purchase/preview"
RESULTS = "/console/automations/first_purchase/results"


def line_customer(uow_factory, line, clock, name: str, *, language: str = "ja", consent: bool = True) -> dict:
    """A customer who is a LINE friend (in the emulator) and, unless told otherwise, agreed to the privacy notice."""
    line_user_id = line.add_user(name, language=language)
    line.follow(line_user_id)  # the friend in LINE; the app records the follow below, as its webhook handler does
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name=name, locale=language)
        identity = channels.ensure_identity(uow=uow, address=line_user_id)
        channels.update_profile(identity=identity, display_name=name, language=language)
        channels.record_follow(uow=uow, identity=identity, unblocked=False)
        if consent:
            channels.record_consent(uow=uow, identity=identity, notice_version="1")
            customer.consented_at = clock.now()
        identity.customer_id = customer.id
        uow.commit()
        return {"id": customer.id, "member_number": customer.member_number, "line_user_id": line_user_id}


def first_purchase(uow_factory, customer_id: int, total: int = 1200) -> None:
    with uow_factory() as uow:
        store = stores.get_store_by_code(uow=uow, code="S1") or stores.upsert_store(uow=uow, code="S1", name="Ginza")[0]
        purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=store.id, total=total)
        uow.commit()


def setting(uow_factory, key: str):
    with uow_factory() as uow:
        return automations.get_automation(uow=uow, key=key)


@pytest.mark.parametrize("path", [LIST, EDIT, RESULTS])
def test_staff_may_not_open_the_automations(as_role, path):
    client = as_role("staff")
    assert client.get(path).status_code == 403
    assert 'href="/console/automations"' not in client.get("/console/till").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["marketer", "admin"])
def test_the_list_shows_every_automation_with_its_switch_and_share(as_role, role):
    client = as_role(role)
    page = client.get(LIST).get_data(as_text=True)

    assert 'href="/console/automations"' in page  # in the navigation
    for key in automations.AUTOMATIONS:
        assert f'data-automation="{key}"' in page
    assert "Thank-you after a first purchase" in page
    marketing = [d for d in automations.AUTOMATIONS.values() if not d.transactional]
    assert page.count("10%") >= len(marketing)
    assert "Messages decided during the quiet hours (21:00-09:00, shop time) wait until they end." in page
    assert ('href="/console/settings"' in page) is (role == "admin")


def test_the_weekly_cap_and_quiet_hours_are_saved_and_a_mistake_saves_nothing(as_role, uow_factory):
    client = as_role("marketer")
    token = csrf_token(client, LIST)

    response = client.post(
        "/console/automations/limits", data={"csrf_token": token, "weekly_cap": "３", "quiet_hours": "22:00-08:00"}
    )
    assert response.status_code == 302
    with uow_factory() as uow:
        assert automations.weekly_cap(uow) == 3
        assert shop.get_profile(uow=uow).quiet_hours == "22:00-08:00"

    response = client.post(
        "/console/automations/limits", data={"csrf_token": token, "weekly_cap": "1", "quiet_hours": "late"}
    )
    assert response.status_code == 400
    assert "Write the quiet hours like 21:00-09:00, or off." in response.get_data(as_text=True)
    with uow_factory() as uow:
        assert automations.weekly_cap(uow) == 3  # the cap of the refused form was not saved either

    missing_token = client.post("/console/automations/limits", data={"weekly_cap": "1", "quiet_hours": "off"})
    assert missing_token.status_code == 400
    with uow_factory() as uow:
        assert automations.weekly_cap(uow) == 3


def test_a_marketer_switches_an_automation_on_with_its_share_and_wording(as_role, uow_factory):
    client = as_role("marketer")
    page = client.get(EDIT).get_data(as_text=True)
    assert "{{ name }}" in page  # the placeholders it supports are listed

    response = client.post(
        EDIT,
        data={
            "csrf_token": csrf_token(client, EDIT),
            "enabled": "on",
            "holdout_percent": "20",
            "text_ja": "{{ name }}様、初めてのお買い上げありがとうございます。",
            "text_en": "",
        },
    )

    assert response.status_code == 302
    saved = setting(uow_factory, "first_purchase")
    assert (saved.enabled, saved.holdout_percent) == (True, 20)
    assert saved.templates == {"ja": {"text": "{{ name }}様、初めてのお買い上げありがとうございます。"}}
    assert "The automation was saved." in client.get(EDIT).get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text_en": "Hello {{ nickname }}"}, "which this message does not have"),
        ({"text_ja": "{{ name"}, "has a mistake on line 1"),
        ({"holdout_percent": "60"}, "The hold-out share must be between 0 and 50 percent."),
        ({"holdout_percent": "ten"}, "The hold-out share must be a whole number of percent."),
    ],
)
def test_a_bad_wording_or_share_is_a_clear_error_and_nothing_is_saved(as_role, uow_factory, changes, message):
    client = as_role("marketer")
    data = {
        "csrf_token": csrf_token(client, EDIT),
        "enabled": "on",
        "holdout_percent": "10",
        "text_ja": "",
        "text_en": "",
    }

    response = client.post(EDIT, data={**data, **changes})

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    saved = setting(uow_factory, "first_purchase")
    assert (saved.enabled, saved.templates) == (False, None)


def test_the_preview_shows_a_real_customer_their_message_without_sending_or_saving(as_role, uow_factory, line, clock):
    yuki = line_customer(uow_factory, line, clock, "Yuki Tanaka", language="en")
    first_purchase(uow_factory, yuki["id"])
    client = as_role("marketer")
    page = client.get(EDIT).get_data(as_text=True)
    assert f'value="{yuki["member_number"]}"' in page  # suggested: she may get marketing messages

    response = client.post(
        PREVIEW,
        data={
            "csrf_token": csrf_token(client, EDIT),
            "holdout_percent": "10",
            "text_ja": "",
            "text_en": "Welcome, {{ name }}! Thanks for your first visit.",
            "customer": yuki["member_number"],
        },
    )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "What Yuki Tanaka would get" in page
    assert "Welcome, Yuki Tanaka! Thanks for your first visit." in page
    assert line.messages_to(yuki["line_user_id"]) == []
    assert setting(uow_factory, "first_purchase").templates is None
    with uow_factory() as uow:
        assert uow.session.exec(select(OutboxMessage)).all() == []


def test_a_preview_for_an_unknown_member_number_says_so(as_role):
    client = as_role("marketer")
    response = client.post(
        PREVIEW,
        data={"csrf_token": csrf_token(client, EDIT), "holdout_percent": "10", "member_number": "999999999"},
    )
    assert response.status_code == 400
    assert "No customer has the member number 999999999." in response.get_data(as_text=True)


def test_run_now_decides_and_delivers_and_the_message_arrives_on_line(as_role, uow_factory, line, clock):
    hana = line_customer(uow_factory, line, clock, "山田 花子")
    no_consent = line_customer(uow_factory, line, clock, "佐藤 一郎", consent=False)
    for customer in (hana, no_consent):
        first_purchase(uow_factory, customer["id"])
    with uow_factory() as uow:
        automations.update_automation(uow=uow, key="first_purchase", enabled=True, holdout_percent=0)
        uow.commit()
    client = as_role("marketer")

    response = client.post("/console/automations/run", data={"csrf_token": csrf_token(client, LIST)})

    assert response.status_code == 302
    page = client.get(LIST).get_data(as_text=True)
    assert "Decided 2: 1 to send, 0 held out, 1 skipped. Delivered 1," in page
    assert len(line.messages_to(hana["line_user_id"])) == 1
    assert "山田 花子" in str(line.messages_to(hana["line_user_id"]))
    assert line.messages_to(no_consent["line_user_id"]) == []
    row = re.search(r'data-automation="first_purchase".*?</tr>', page, re.S).group(0)
    assert re.search(r'data-field="sent">1<', row) and re.search(r'data-field="skipped">1<', row)

    client.post("/console/automations/run", data={"csrf_token": csrf_token(client, LIST)})
    assert "Nothing was due now" in client.get(LIST).get_data(as_text=True)  # nothing is decided twice
    assert len(line.messages_to(hana["line_user_id"])) == 1


def test_run_now_with_every_automation_off_says_so_and_one_runs_from_its_own_page(as_role, uow_factory, line, clock):
    ken = line_customer(uow_factory, line, clock, "Ken Sato", language="en")
    first_purchase(uow_factory, ken["id"])
    with uow_factory() as uow:
        automations.update_automation(uow=uow, key="first_purchase", holdout_percent=0)  # still off
        automations.update_automation(uow=uow, key="booking_reminder", enabled=False)  # on until switched off
        uow.commit()
    client = as_role("marketer")
    token = csrf_token(client, LIST)

    client.post("/console/automations/run", data={"csrf_token": token})
    assert "No automation is on" in client.get(LIST).get_data(as_text=True)
    assert line.messages_to(ken["line_user_id"]) == []

    response = client.post("/console/automations/first_purchase/run", data={"csrf_token": token})

    assert response.status_code == 302 and response.headers["Location"].endswith(EDIT)
    assert "Decided 1: 1 to send, 0 held out, 0 skipped. Delivered 1," in client.get(EDIT).get_data(as_text=True)
    (message,) = line.messages_to(ken["line_user_id"])
    assert "Ken Sato" in str(message)  # in English, his language
    assert setting(uow_factory, "first_purchase").enabled is False  # running it did not switch it on


def test_results_explain_themselves_before_anything_was_decided(as_role):
    page = as_role("marketer").get(RESULTS).get_data(as_text=True)
    assert "Nothing decided in this period yet." in page
    assert "<svg" not in page


def _decision(uow, *, customer_id, outcome, when, outbox_id=None, reason=None):
    uow.session.add(
        AutomationDecision(
            automation="first_purchase",
            customer_id=customer_id,
            occurrence=f"purchase:{customer_id}",
            outcome=outcome,
            reason=reason,
            outbox_id=outbox_id,
            decided_at=when,
            business_day=(when + timedelta(hours=9)).date(),
        )
    )


def test_results_of_decisions_younger_than_a_week_wait_for_their_week(as_role, uow_factory, clock):
    with uow_factory() as uow:
        for outcome in ("send", "holdout"):
            customer = customers.create_customer(uow=uow, name="Customer")
            _decision(uow, customer_id=customer.id, outcome=outcome, when=clock.now() - timedelta(days=6, hours=23))
        uow.commit()

    page = as_role("marketer").get(RESULTS).get_data(as_text=True)

    assert page.count("Not enough data yet") == 1
    assert "2 decisions are less than 7 days old and not counted yet." in page
    assert "<svg" not in page
    assert 'data-field="decided">2<' in page


def test_results_show_the_days_and_the_hold_out_comparison_as_table_and_chart(as_role, uow_factory, clock):
    decided = clock.now() - timedelta(days=10)
    with uow_factory() as uow:
        store = stores.upsert_store(uow=uow, code="S1", name="Ginza")[0]
        for index in range(40):
            customer = customers.create_customer(uow=uow, name=f"Customer {index}")
            messaged = index < 20
            _decision(uow, customer_id=customer.id, outcome="send" if messaged else "holdout", when=decided)
            if (messaged and index < 12) or (not messaged and index < 22):  # 12 of 20 bought against 2 of 20
                uow.session.add(
                    Purchase(
                        customer_id=customer.id,
                        store_id=store.id,
                        total=3000,
                        occurred_at=decided + timedelta(days=2),
                        created_at=decided,
                    )
                )
        skipped = customers.create_customer(uow=uow, name="Opted out")
        _decision(uow, customer_id=skipped.id, outcome="skipped", reason="opted_out", when=decided)
        uow.commit()
    client = as_role("marketer")

    response = client.get(RESULTS)

    page = response.get_data(as_text=True)
    assert "Customers who got the message bought more often: +" in page
    assert "60.0%" in page and "10.0%" in page  # 12 of 20, 2 of 20
    assert "opted out: 1" in page
    assert page.count("<svg") == 2 and "<script" not in page
    assert "style=" not in page  # the strict CSP allows no inline style
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "¥1,800" in page and "¥300" in page  # revenue per customer: ¥36,000 / 20 and ¥6,000 / 20

    with client.session_transaction() as session:
        session["lang"] = "ja"
    japanese = client.get(RESULTS).get_data(as_text=True)
    assert "メッセージを受け取った" in japanese


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_automation_page_renders_in_both_languages(as_role, uow_factory, line, clock, lang):
    hana = line_customer(uow_factory, line, clock, "山田 花子")
    first_purchase(uow_factory, hana["id"])
    client = as_role("admin")
    with client.session_transaction() as session:
        session["lang"] = lang
    pages = [client.get(LIST), client.get(RESULTS)]
    pages += [client.get(f"/console/automations/{key}") for key in automations.AUTOMATIONS]
    pages.append(
        client.post(
            PREVIEW,
            data={"csrf_token": csrf_token(client, EDIT), "holdout_percent": "10", "customer": hana["member_number"]},
        )
    )
    for response in pages:
        page = response.get_data(as_text=True)
        assert response.status_code == 200, page
        assert f'<html lang="{lang}">' in page and "%(" not in page
    assert "山田 花子" in page  # the preview, in her language
    if lang == "ja":
        assert "自動配信" in pages[0].get_data(as_text=True)
    assert client.get("/console/automations/no_such_thing").status_code == 404
