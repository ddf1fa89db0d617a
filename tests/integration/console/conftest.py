# ruff: noqa: S105, S106  (test passwords)
"""Console fixtures: one account per role, and a logged-in client."""

from __future__ import annotations

import re

import pytest

from crm_core import staff

PASSWORD = "correct horse battery"
ACCOUNTS = {"staff": "till@example.jp", "marketer": "marketing@example.jp", "admin": "owner@example.jp"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/console/login") -> str:
    """The CSRF token from a console form, as a browser would send it back."""
    page = client.get(path)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client, email: str, password: str = PASSWORD, **extra):
    token = csrf_token(client)
    return client.post("/console/login", data={"email": email, "password": password, "csrf_token": token, **extra})


@pytest.fixture
def accounts(uow_factory) -> dict[str, str]:
    with uow_factory() as uow:
        for role, email in ACCOUNTS.items():
            staff.create_staff_user(uow=uow, email=email, password=PASSWORD, role=role)
        uow.commit()
    return ACCOUNTS


@pytest.fixture
def as_role(client, accounts):
    """Log the test client in with the given role's account."""

    def login(role: str):
        response = log_in(client, accounts[role])
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return login


@pytest.fixture
def client(app):
    """A browser that chose English, so assertions read the message ids (the `ja` pages have their own test)."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client
