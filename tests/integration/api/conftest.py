"""API fixtures: a token and a client that sends it."""

from __future__ import annotations

import pytest

from crm_core import api_tokens


@pytest.fixture
def token(uow_factory) -> str:
    with uow_factory() as uow:
        _, raw = api_tokens.create_token(uow=uow, name="POS")
        uow.commit()
    return raw


@pytest.fixture
def api(client, token):
    """The test client with the bearer token on every request."""

    class Api:
        headers = {"Authorization": f"Bearer {token}"}

        def get(self, path, **kwargs):
            return client.get("/api/v1" + path, headers=self.headers, **kwargs)

        def post(self, path, **kwargs):
            return client.post("/api/v1" + path, headers=self.headers, **kwargs)

    return Api()
