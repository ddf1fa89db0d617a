"""Tags on the customer page: added (trimmed, lower case), shown, removed; a segment finds the customer by them."""

from __future__ import annotations

from crm_core import customers, segments
from tests.integration.console.conftest import csrf_token


def test_staff_tag_a_customer_and_a_segment_finds_them_by_it(as_role, uow_factory, settings):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        uow.commit()
    page = f"/console/customers/{customer.id}"
    client = as_role("staff")

    added = client.post(f"{page}/tags", data={"csrf_token": csrf_token(client, page), "add": " VIP "})
    assert added.status_code == 302
    shown = client.get(page).get_data(as_text=True)
    assert '<span class="tag">vip' in shown
    too_long = client.post(f"{page}/tags", data={"csrf_token": csrf_token(client, page), "add": "x" * 51})
    assert too_long.status_code == 302
    assert "x" * 51 not in client.get(page).get_data(as_text=True)

    rules = {"conditions": [{"field": "tag", "op": "in", "value": ["vip"]}]}
    with uow_factory() as uow:
        assert segments.size(uow=uow, rules=rules, zone=settings.zone) == 1

    client.post(f"{page}/tags", data={"csrf_token": csrf_token(client, page), "remove": "vip"})
    assert '<span class="tag">' not in client.get(page).get_data(as_text=True)
    with uow_factory() as uow:
        assert segments.size(uow=uow, rules=rules, zone=settings.zone) == 0
