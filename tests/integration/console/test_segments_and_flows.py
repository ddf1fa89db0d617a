"""The marketer's segments and coupon flows in the console: a win-back flow from nothing to its results."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from crm_core.models import CouponFlow, CustomerCoupon, Segment
from tests.integration.console.conftest import csrf_token
from tests.integration.console.test_automations import line_customer
from tests.shop import Shop, flow_coupon


@pytest.fixture
def shop(services, clock) -> Shop:
    return Shop(services, clock)


@pytest.mark.parametrize("path", ["/console/marketing/segments", "/console/marketing/flows"])
def test_staff_may_not_open_marketing(as_role, path):
    assert as_role("staff").get(path).status_code == 403


def test_a_segment_is_checked_then_saved_and_a_wrong_row_is_named_next_to_it(as_role, shop, clock, uow_factory):
    lapsed = shop.customer("休眠 花子")
    shop.buy(lapsed, clock.now() - timedelta(days=70))
    shop.buy(shop.customer("常連 太郎"), clock.now() - timedelta(days=3))
    client = as_role("marketer")
    form = {"csrf_token": csrf_token(client, "/console/marketing/segments/new"), "name": "休眠60日", "match": "all"}
    wrong = {**form, "field_0": "recency_days", "op_0": ">=", "value_0": "たくさん"}

    refused = client.post("/console/marketing/segments/new", data=wrong)

    assert refused.status_code == 400
    assert 'data-error="conditions.0.value"' in refused.get_data(as_text=True)
    with uow_factory() as uow:
        assert uow.session.exec(select(Segment)).first() is None

    good = {**form, "field_0": "recency_days", "op_0": ">=", "value_0": "６０"}  # full-width digits, as typed
    checked = client.post("/console/marketing/segments/new", data={**good, "check": "1"})
    page = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "休眠 花子" in page and "常連 太郎" not in page
    assert re.search(r'data-field="size">[^<]*1', page)

    saved = client.post("/console/marketing/segments/new", data=good)
    assert saved.status_code == 302
    listing = client.get("/console/marketing/segments").get_data(as_text=True)
    assert "休眠60日" in listing


def test_a_win_back_flow_from_the_console_reaches_line_with_its_coupon(
    as_role, uow_factory, line, clock, services, shop
):
    lapsed = line_customer(uow_factory, line, clock, "佐藤 一郎")
    shop.buy(lapsed["id"], clock.now() - timedelta(days=65))
    coupon_id = flow_coupon(uow_factory)
    client = as_role("marketer")
    token = csrf_token(client, "/console/marketing/segments/new")
    client.post(
        "/console/marketing/segments/new",
        data={
            "csrf_token": token,
            "name": "休眠",
            "match": "all",
            "field_0": "recency_days",
            "op_0": ">=",
            "value_0": "60",
        },
    )
    with uow_factory() as uow:
        segment_id = uow.session.exec(select(Segment)).one().id
    form = {
        "csrf_token": csrf_token(client, "/console/marketing/flows/new"),
        "name": "おかえりなさい",
        "trigger": "lapsed",
        "days": "60",
        "segment_id": str(segment_id),
        "coupon_id": str(coupon_id),
        "holdout_percent": "0",
        "starts_on": "2026-12-01",
        "ends_on": "2026-11-30",
        "member_number": lapsed["member_number"],
    }

    refused = client.post("/console/marketing/flows/new", data={**form, "action": "save"})
    assert refused.status_code == 400 and 'data-error="ends_on"' in refused.get_data(as_text=True)
    form.update(starts_on="", ends_on="")
    dry = client.post("/console/marketing/flows/new", data={**form, "action": "dry_run"}).get_data(as_text=True)
    assert re.search(r'data-field="dry_run">1 ', dry)
    preview = client.post("/console/marketing/flows/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert "佐藤 一郎" in preview and "おかえりクーポン" in preview
    with uow_factory() as uow:
        assert uow.session.exec(select(CustomerCoupon)).first() is None  # previews issue nothing

    saved = client.post("/console/marketing/flows/new", data={**form, "action": "save"})
    assert saved.status_code == 302
    with uow_factory() as uow:
        flow_id = uow.session.exec(select(CouponFlow)).one().id
    ran = client.post(
        f"/console/marketing/flows/{flow_id}/run",
        data={"csrf_token": csrf_token(client, f"/console/marketing/flows/{flow_id}")},
    )

    assert ran.status_code == 302
    (message,) = line.messages_to(lapsed["line_user_id"])
    assert "おかえりクーポン" in str(message)
    results = client.get(f"/console/marketing/flows/{flow_id}/results").get_data(as_text=True)
    assert 'data-field="coupon"' in results and "おかえりなさい" in results
    assert "おかえりなさい" in client.get("/console/marketing/flows").get_data(as_text=True)
