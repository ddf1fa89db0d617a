"""API tokens in the console: created and shown once, listed with their last use, revoked at once (admins only)."""

from __future__ import annotations

import re
from html import unescape

import pytest

from crm_core import api_tokens
from tests.integration.console.conftest import csrf_token

PAGE = "/console/tokens"
_RAW = re.compile(r'value="(kzn_[^"]+)"')


def create(client, name: str):
    return client.post(PAGE, data={"csrf_token": csrf_token(client, PAGE), "name": name})


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def test_a_created_token_is_shown_once_works_and_is_revoked_at_once(as_role, client, clock, uow_factory):
    admin = as_role("admin")
    response = create(admin, "POS Shibuya")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    raw = unescape(_RAW.search(response.get_data(as_text=True)).group(1))
    listing = admin.get(PAGE).get_data(as_text=True)
    assert raw not in listing, "the raw token is never shown again"
    assert "POS Shibuya" in listing and raw[:10] in listing and "Never" in listing

    clock.advance(minutes=5)
    assert admin.get("/api/v1/stores", headers=bearer(raw)).status_code == 200
    assert "Never" not in admin.get(PAGE).get_data(as_text=True), "the list shows the last use"

    with uow_factory() as uow:
        token = api_tokens.get_active_by_name(uow=uow, name="POS Shibuya")
    revoked = admin.post(f"{PAGE}/{token.id}/revoke", data={"csrf_token": csrf_token(admin, PAGE)})

    assert revoked.status_code == 302
    assert admin.get("/api/v1/stores", headers=bearer(raw)).status_code == 401
    page = admin.get(PAGE).get_data(as_text=True)
    assert "The token POS Shibuya was revoked; it no longer works." in page and "Revoked " in page


def test_token_names_are_unique_among_active_tokens(as_role, uow_factory):
    admin = as_role("admin")
    create(admin, "POS")
    again = create(admin, " POS ")

    assert again.status_code == 400
    message = "An active token is already called POS. Choose another name."
    assert f'data-field="name">{message}' in again.get_data(as_text=True)
    assert create(admin, "").status_code == 400
    with uow_factory() as uow:
        api_tokens.revoke_by_name(uow=uow, name="POS")
        uow.commit()
    assert create(admin, "POS").status_code == 200, "a revoked token's name may be used again"
    with uow_factory() as uow:
        assert len(api_tokens.list_tokens(uow=uow)) == 2


@pytest.mark.parametrize("role", ["staff", "marketer"])
def test_staff_and_marketers_get_403(as_role, uow_factory, role):
    with uow_factory() as uow:
        token, _raw = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    client = as_role(role)
    csrf = csrf_token(client, "/console/")

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"csrf_token": csrf, "name": "mine"}).status_code == 403
    assert client.post(f"{PAGE}/{token.id}/revoke", data={"csrf_token": csrf}).status_code == 403
    with uow_factory() as uow:
        assert [(t.name, t.revoked_at) for t in api_tokens.list_tokens(uow=uow)] == [("POS", None)]


def test_a_token_made_on_the_page_has_the_ticked_scopes_and_store(as_role, client, uow_factory):
    from crm_core.models import Store

    with uow_factory() as uow:
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        uow.commit()
    admin = as_role("admin")
    form = {"csrf_token": csrf_token(admin, PAGE), "name": "POS Shibuya", "store": "SHIBUYA"}

    too_wide = admin.post(PAGE, data={**form, "scopes": ["purchases:write", "customers:read"]})
    assert too_wide.status_code == 400
    assert 'data-field="scopes"' in too_wide.get_data(as_text=True)
    with uow_factory() as uow:
        assert api_tokens.list_tokens(uow=uow) == [], "a refused form creates nothing"

    response = admin.post(PAGE, data={**form, "scopes": ["purchases:write"]})
    assert response.status_code == 200
    raw = unescape(_RAW.search(response.get_data(as_text=True)).group(1))
    row = admin.get(PAGE).get_data(as_text=True).split('data-field="scopes">')[1].split("</tr>")[0]
    assert "purchases:write" in row and "customers:read" not in row and "SHIBUYA" in row
    refused = admin.get("/api/v1/customers", headers=bearer(raw))
    assert refused.status_code == 403 and "customers:read" in refused.get_json()["error"]["message"]
