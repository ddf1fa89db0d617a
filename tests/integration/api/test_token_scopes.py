"""API token scopes and store restriction: a POS token for one store cannot read every customer."""

from __future__ import annotations

import pytest

from crm_core import api_tokens, customers
from crm_core.errors import InvalidInput
from crm_core.models import ApiToken, Store


@pytest.fixture
def shop(uow_factory):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子", external_id="C-1")
        for code, name in (("SHIBUYA", "渋谷店"), ("SHINJUKU", "新宿店")):
            uow.session.add(Store(code=code, name=name, created_at=uow.now()))
        uow.commit()
        return customer


@pytest.fixture
def token_with(uow_factory, client):
    """A client calling the API with a new token of these scopes (and store)."""

    def make(*scopes: str, store: str | None = None):
        with uow_factory() as uow:
            _, raw = api_tokens.create_token(
                uow=uow, name=f"T{len(scopes)}{store}", scopes=list(scopes), store_code=store
            )
            uow.commit()
        headers = {"Authorization": f"Bearer {raw}"}

        class Api:
            def get(self, path):
                return client.get("/api/v1" + path, headers=headers)

            def post(self, path, body):
                return client.post("/api/v1" + path, headers=headers, json=body)

        return Api()

    return make


def _sale(customer_id: int, store: str, external_id: str) -> dict:
    return {"external_id": external_id, "customer_id": customer_id, "store_code": store, "total": 3240}


def test_a_token_without_the_scope_is_refused_naming_the_missing_one(token_with, shop):
    pos = token_with("purchases:write")

    refused = pos.get("/customers")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "forbidden"
    assert "customers:read" in refused.json["error"]["message"]
    assert pos.get(f"/customers/{shop.id}").status_code == 403
    assert pos.post("/stores", {"code": "UMEDA", "name": "梅田店"}).status_code == 403
    assert pos.post("/purchases", _sale(shop.id, "SHIBUYA", "POS-1")).status_code == 201


def test_a_store_token_records_and_reads_only_its_own_store(token_with, shop):
    shibuya = token_with(store="SHIBUYA")
    everything = token_with()

    assert shibuya.post("/purchases", _sale(shop.id, "SHIBUYA", "POS-1")).status_code == 201
    other = shibuya.post("/purchases", _sale(shop.id, "SHINJUKU", "POS-2"))
    assert other.status_code == 403 and other.json["error"]["code"] == "forbidden"
    shinjuku_sale = everything.post("/purchases", _sale(shop.id, "SHINJUKU", "POS-3")).json

    assert shibuya.get("/customers").status_code == 403, "a POS token cannot read every customer"
    assert shibuya.get(f"/customers/{shop.id}").status_code == 403
    assert shibuya.get(f"/purchases/{shinjuku_sale['id']}").status_code == 404
    listed = shibuya.get(f"/customers/{shop.id}/purchases").json["items"]
    assert [sale["external_id"] for sale in listed] == ["POS-1"]
    refund = {"external_id": "R-1", "purchase_id": shinjuku_sale["id"], "amount": 1000}
    assert shibuya.post("/refunds", refund).status_code == 403
    assert everything.get(f"/customers/{shop.id}").json["points_balance"] == 64, "the refused refund changed nothing"
    assert shibuya.get("/stores").status_code == 200


def test_a_store_token_cannot_be_given_customer_scopes(uow_factory, shop):
    with uow_factory() as uow, pytest.raises(InvalidInput) as refused:
        api_tokens.create_token(uow=uow, name="POS", scopes=["customers:read"], store_code="SHIBUYA")
    assert refused.value.params["field"] == "scopes"
    with uow_factory() as uow, pytest.raises(InvalidInput):
        api_tokens.create_token(uow=uow, name="POS", scopes=["customers:everything"])


def test_tokens_made_before_scopes_existed_keep_full_access(token_with, uow_factory, client, shop):
    with uow_factory() as uow:
        token, raw = api_tokens.create_token(uow=uow, name="Old integration")
        uow.session.get(ApiToken, token.id).scopes = None  # as the migration leaves older tokens
        uow.commit()
    headers = {"Authorization": f"Bearer {raw}"}

    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    assert client.post("/api/v1/stores", headers=headers, json={"code": "UMEDA", "name": "梅田店"}).status_code == 201
