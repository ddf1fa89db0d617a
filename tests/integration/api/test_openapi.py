"""The OpenAPI document: valid 3.1, public, and covering every route of the API."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_needs_no_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    routes = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {path}"
            routes += 1
    assert routes == 19


def test_every_api_route_needs_a_scope_and_the_document_names_it(app, client):
    from bot.api.auth import ENDPOINT_SCOPES, PUBLIC_ENDPOINTS
    from crm_core.api_tokens import SCOPES

    document = client.get("/api/v1/openapi.json").get_json()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        scope = ENDPOINT_SCOPES[rule.endpoint]
        assert scope in SCOPES
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert document["paths"][path][method.lower()]["security"] == [{"bearer": [scope]}], f"{method} {path}"
