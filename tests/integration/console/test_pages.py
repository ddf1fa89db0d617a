"""Console pages: dashboard, search, the customer screen, failed events; every template in ja and en."""

from __future__ import annotations

from datetime import date

import pytest

from crm_core import channels, customers, events, membership
from crm_core.models import Purchase, PurchaseItem, Store, WebhookEvent
from tests.integration.console.conftest import csrf_token

LINE_USER = "U" + "0123456789abcdef" * 2


@pytest.fixture
def hanako(uow_factory, clock) -> dict:
    """A member who followed on LINE, agreed, registered, chatted and bought something."""
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address="U" + "a" * 32)
        channels.update_profile(identity=identity, display_name="はなこ", language="ja")
        channels.record_follow(uow=uow, identity=identity, unblocked=False)
        clock.advance(minutes=1)
        channels.record_consent(uow=uow, identity=identity, notice_version="2026-11")
        clock.advance(minutes=1)
        customer = membership.register_new_member(uow=uow, identity=identity, name="山田 花子")
        customer.name_kana = "ヤマダ ハナコ"
        customer.phone = "090-1234-5678"
        customer.email = "hanako@example.jp"
        customer.birth_date = date(1990, 4, 1)
        customers.write_search_key(customer)
        clock.advance(minutes=1)
        channels.record_message(uow=uow, identity=identity, kind="message_in", summary="営業時間を教えてください")
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.session.flush()
        purchase = Purchase(customer_id=customer.id, store_id=store.id, total=3980, occurred_at=uow.now())
        purchase.created_at = uow.now()
        uow.session.add(purchase)
        uow.session.flush()
        uow.session.add(
            PurchaseItem(purchase_id=purchase.id, sku="T-1", name="Tea", category="tea", quantity=2, unit_price=1990)
        )
        uow.commit()
        return {"id": customer.id, "member_number": customer.member_number}


@pytest.fixture
def failed_event(uow_factory) -> int:
    """An unfollow whose processing failed once (re-running it sends nothing to LINE)."""
    body = {"type": "unfollow", "webhookEventId": "01FAILED", "timestamp": 1795000000000, "mode": "active"}
    body["source"] = {"type": "user", "userId": LINE_USER}
    with uow_factory.transaction() as connection:
        events.store_events(connection=connection, events=[body], now=uow_factory.clock.now())
    with uow_factory() as uow:
        event = events.next_pending(uow=uow, lane=LINE_USER)
        events.mark_failed(uow=uow, event_id=event.id, error="RuntimeError: the till was offline")
        uow.commit()
        return event.id


def test_dashboard_counts(as_role, hanako, failed_event, uow_factory):
    with uow_factory() as uow:
        customers.create_customer(uow=uow, name="Walk-in")
        uow.commit()
    page = as_role("staff").get("/console/").get_data(as_text=True)

    assert 'data-count="customers">2<' in page
    assert 'data-count="line_friends">1<' in page
    assert 'data-count="linked_members">1<' in page
    assert 'data-count="events_failed">1<' in page
    assert 'data-count="outbox_pending">0<' in page


@pytest.mark.parametrize("query", ["山田", "ハナコ", "1234-5678", "12345678", "hanako@example", "U" + "a" * 32])
def test_search_finds_the_customer(as_role, hanako, uow_factory, query):
    with uow_factory() as uow:
        customers.create_customer(uow=uow, name="Someone Else", phone="03-9999-0000")
        uow.commit()
    page = as_role("staff").get("/console/customers", query_string={"q": query}).get_data(as_text=True)

    assert f"/console/customers/{hanako['id']}" in page
    assert "Someone Else" not in page


def test_search_by_member_number(as_role, hanako):
    page = as_role("staff").get(f"/console/customers?q={hanako['member_number']}").get_data(as_text=True)
    assert "山田 花子" in page


def test_search_pages_by_last_id(as_role, uow_factory):
    with uow_factory() as uow:
        for number in range(60):
            customers.create_customer(uow=uow, name=f"Customer {number:02d}")
        uow.commit()
    client = as_role("staff")
    first = client.get("/console/customers?q=Customer").get_data(as_text=True)
    assert "Customer 49" in first and "Customer 50" not in first
    assert 'rel="next" href="/console/customers?q=Customer&amp;after=50"' in first

    second = client.get("/console/customers?q=Customer&after=50").get_data(as_text=True)
    assert "Customer 50" in second and "Customer 59" in second and "Customer 49" not in second
    assert 'rel="next"' not in second


def test_customer_screen_shows_profile_line_state_purchases_and_timeline(as_role, hanako):
    response = as_role("staff").get(f"/console/customers/{hanako['id']}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    for shown in (
        "山田 花子",
        "ヤマダ ハナコ",
        hanako["member_number"],
        "090-1234-5678",
        "hanako@example.jp",
        "はなこ",
    ):
        assert shown in page
    assert "Apr 1, 1990" in page
    assert "渋谷店" in page and "¥3,980" in page
    assert "Friend" in page
    for kind in ("followed", "consented", "registered", "message_in"):
        assert f'data-kind="{kind}"' in page
    assert "Added the LINE account as a friend" in page
    assert "営業時間を教えてください" in page
    assert "Nov 22, 2026" in page and "12:03" in page, "timeline times are in business time (JST)"
    assert page.index('data-kind="message_in"') < page.index('data-kind="followed"'), "newest first"


def test_customer_screen_shows_a_block(as_role, hanako, uow_factory):
    with uow_factory() as uow:
        channels.record_unfollow(uow=uow, identity=channels.get_identity(uow=uow, address="U" + "a" * 32))
        uow.commit()
    page = as_role("staff").get(f"/console/customers/{hanako['id']}").get_data(as_text=True)
    assert "Blocked since" in page
    assert "Blocked the LINE account" in page


def test_unknown_and_erased_customers(as_role, hanako, uow_factory, clock):
    client = as_role("staff")
    assert client.get("/console/customers/999999").status_code == 404
    assert client.get("/console/customers/" + "9" * 30).status_code == 404
    assert client.get("/console/customers?after=" + "9" * 30).status_code == 200
    with uow_factory() as uow:
        customers.get_customer(uow=uow, customer_id=hanako["id"]).erased_at = clock.now()
        uow.commit()
    response = client.get(f"/console/customers/{hanako['id']}")
    assert response.status_code == 410
    assert "山田" not in response.get_data(as_text=True)


def test_admin_sees_failed_events_and_reruns_one(as_role, failed_event, uow_factory, services):
    client = as_role("admin")
    page = client.get("/console/events").get_data(as_text=True)
    assert "the till was offline" in page

    refused = client.post(f"/console/events/{failed_event}/rerun")
    assert refused.status_code == 400, "no CSRF token, no re-run"

    response = client.post(
        f"/console/events/{failed_event}/rerun", data={"csrf_token": csrf_token(client, "/console/events")}
    )
    assert response.status_code == 302
    services.pump.wait_idle(timeout=10)
    with uow_factory() as uow:
        event = uow.session.get(WebhookEvent, failed_event)
        assert (event.status, event.attempts) == ("done", 2), "it was processed once more, successfully"
    assert "is being processed again" in client.get("/console/events").get_data(as_text=True)


PAGES = {
    "/console/": "staff",
    "/console/customers?q=": "staff",
    "/console/customers?q=山田": "staff",
    "/console/customers/{id}": "staff",
    "/console/customers/999999": "staff",
    "/console/events": "admin",
    "/console/settings": "admin",
    "/console/system": "admin",
    "/console/marketing": "marketer",
    "/console/marketing/coupons/new": "marketer",
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_console_template_renders_in_both_languages(client, accounts, hanako, failed_event, lang):
    with client.session_transaction() as session:
        session["lang"] = lang
    login = client.get("/console/login")
    assert login.status_code == 200 and f'<html lang="{lang}">' in login.get_data(as_text=True)
    assert client.post("/console/login", data={}).status_code == 400  # error.html (CSRF)
    bad = client.post(
        "/console/login", data={"email": accounts["staff"], "password": "wrong!", "csrf_token": csrf_token(client)}
    )
    assert bad.status_code == 401
    assert client.get("/console/events", follow_redirects=True).status_code == 200  # login page again
    client.post(
        "/console/login",
        data={"email": accounts["admin"], "password": "correct horse battery", "csrf_token": csrf_token(client)},
    )
    for path in PAGES:
        response = client.get(path.format(id=hanako["id"]))
        page = response.get_data(as_text=True)
        assert response.status_code in (200, 404), path
        assert f'<html lang="{lang}">' in page, path
        assert "{{" not in page and "%(" not in page, path


def test_the_timeline_says_what_a_purchase_earned(as_role, hanako, uow_factory):
    from sqlmodel import select

    from crm_core import purchases

    with uow_factory() as uow:
        store = uow.session.exec(select(Store)).first()
        purchases.record_purchase(uow=uow, customer_id=hanako["id"], store_id=store.id, total=3240)
        uow.commit()
    page = as_role("staff").get(f"/console/customers/{hanako['id']}").get_data(as_text=True)
    assert "Bought ¥3,240, earned 32 points" in page


def test_an_admin_erases_a_customer_on_request(as_role, hanako, uow_factory, accounts):
    from sqlmodel import select

    from crm_core import customers
    from crm_core.models import ChannelIdentity, TimelineEntry

    client = as_role("admin")
    page = client.get(f"/console/customers/{hanako['id']}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    unconfirmed = client.post(f"/console/customers/{hanako['id']}/erase", data={"csrf_token": token})
    assert unconfirmed.status_code == 302
    with uow_factory() as uow:
        assert customers.get_customer(uow=uow, customer_id=hanako["id"]).erased_at is None
    done = client.post(f"/console/customers/{hanako['id']}/erase", data={"csrf_token": token, "confirm": "erase"})
    assert done.status_code == 302
    with uow_factory() as uow:
        erased = customers.get_customer(uow=uow, customer_id=hanako["id"])
        assert erased.erased_at is not None and erased.name == "—" and erased.phone is None
        assert uow.session.exec(select(ChannelIdentity)).all() == []
        summaries = uow.session.exec(select(TimelineEntry.summary)).all()
        assert "営業時間を教えてください" not in summaries
        assert customers.search(uow=uow, text="山田") == []
    assert client.get(f"/console/customers/{hanako['id']}").status_code == 410


def test_only_admins_may_erase(as_role, hanako):
    client = as_role("staff")
    page = client.get(f"/console/customers/{hanako['id']}").get_data(as_text=True)
    assert "erase-customer" not in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0] if "csrf_token" in page else ""
    refused = client.post(f"/console/customers/{hanako['id']}/erase", data={"csrf_token": token, "confirm": "erase"})
    assert refused.status_code == 403
