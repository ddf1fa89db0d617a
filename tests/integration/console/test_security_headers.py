"""Security headers: the console and the customer pages forbid inline script and framing; machines get nosniff."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import create_app

ROOT = Path(__file__).resolve().parents[3]


def _directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", ["/console/login", "/privacy", "/account/link?linkToken=abc", "/profile?t=nope"])
def test_console_and_customer_pages_forbid_inline_script_and_framing(client, path):
    response = client.get(path)

    directives = _directives(response)
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_only_the_till_may_use_the_camera(as_role):
    till = as_role("staff")
    assert "camera=(self)" in till.get("/console/till").headers["Permissions-Policy"]
    assert "camera=()" in till.get("/console/").headers["Permissions-Policy"]


def test_the_account_link_may_send_its_form_on_to_line(client, settings):
    form_action = _directives(client.get("/account/link?linkToken=abc"))["form-action"]
    assert "'self'" in form_action and settings.line_access_base_url.removesuffix("/simulator") in form_action


def test_webhook_api_and_health_check_get_nosniff_only(client):
    for response in (client.get("/api/v1/openapi.json"), client.get("/healthz"), client.post("/callback", data="{}")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response.headers


def test_hsts_when_the_public_url_is_https_only(settings, services):
    https = create_app(replace(settings, public_url="https://crm.example.jp"), services=services)
    assert https.test_client().get("/console/login").headers["Strict-Transport-Security"].startswith("max-age=")
    plain = create_app(replace(settings, public_url="http://127.0.0.1:8000"), services=services)
    assert "Strict-Transport-Security" not in plain.test_client().get("/console/login").headers


def test_no_template_has_inline_script_handlers_or_styles():
    offenders = []
    for template in (ROOT / "bot").rglob("templates/**/*.html"):
        text = template.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\ssrc=)[^>]*>", r"\son[a-z]+\s*=", r"javascript:", r"<style", r"\sstyle="):
            if re.search(pattern, text, re.IGNORECASE):
                offenders.append(f"{template.relative_to(ROOT)}: {pattern}")
    assert offenders == []
