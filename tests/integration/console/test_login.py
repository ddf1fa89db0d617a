# ruff: noqa: S105, S106  (test passwords)
"""Console login: CSRF, wrong passwords, throttling, logout and session expiry."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlmodel import select

from crm_core.models import LoginAttempt
from tests.integration.console.conftest import PASSWORD, csrf_token, log_in


def test_login_form_carries_a_csrf_token_and_login_with_it_works(client, accounts):
    response = log_in(client, accounts["staff"])

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/console/"
    assert client.get("/console/").status_code == 200


def test_a_post_without_the_csrf_token_is_refused_with_a_friendly_page(client, accounts):
    response = client.post("/console/login", data={"email": accounts["staff"], "password": PASSWORD})

    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_wrong_password_is_refused(client, accounts):
    response = log_in(client, accounts["staff"], password="wrong password!")

    assert response.status_code == 401
    assert "password is wrong" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_five_wrong_passwords_lock_the_address_for_fifteen_minutes(client, accounts, clock, uow_factory):
    for _ in range(4):
        assert log_in(client, accounts["staff"], password="wrong password!").status_code == 401
        clock.advance(minutes=2)
    fifth = log_in(client, accounts["staff"], password="wrong password!")
    assert fifth.status_code == 429
    assert "Too many wrong passwords" in fifth.get_data(as_text=True)

    clock.advance(minutes=14)
    locked = log_in(client, accounts["staff"])
    assert locked.status_code == 429, "the right password is refused while locked"
    assert log_in(client, accounts["admin"]).status_code == 302, "other accounts are not locked"
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})

    clock.advance(minutes=1, seconds=1)
    assert log_in(client, accounts["staff"]).status_code == 302
    with uow_factory() as uow:
        left = uow.session.exec(select(LoginAttempt).where(LoginAttempt.email == accounts["staff"])).all()
    assert left == [], "a successful login clears the failures"


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(client, accounts, clock):
    for _ in range(6):
        assert log_in(client, accounts["staff"], password="wrong password!").status_code == 401
        clock.advance(minutes=4)
    assert log_in(client, accounts["staff"]).status_code == 302


def test_logout_needs_a_post_and_ends_the_session(as_role):
    client = as_role("staff")
    assert client.get("/console/logout").status_code == 405

    response = client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})

    assert response.status_code == 302
    assert client.get("/console/").status_code == 302


def test_login_starts_a_new_session(client, accounts):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    log_in(client, accounts["staff"])
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["role"] == "staff"


def test_idle_session_expires_after_thirty_minutes(as_role, clock):
    client = as_role("staff")
    clock.advance(minutes=29)
    assert client.get("/console/").status_code == 200, "activity keeps the session alive"
    clock.advance(minutes=29)
    assert client.get("/console/").status_code == 200

    clock.advance(minutes=31)
    response = client.get("/console/customers?q=x")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/console/login"
    assert "next=%2Fconsole%2Fcustomers%3Fq%3Dx" in location.query
    assert "session expired" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_session_ends_after_eight_hours_even_when_active(as_role, clock):
    client = as_role("staff")
    for _ in range(16):
        clock.advance(minutes=29)
        assert client.get("/console/").status_code == 200
    clock.advance(minutes=20)
    assert client.get("/console/").status_code == 302


def test_login_goes_back_to_next_but_only_to_a_local_path(client, accounts):
    response = log_in(client, accounts["staff"], next="/console/customers?q=abc")
    assert response.headers["Location"].endswith("/console/customers?q=abc")

    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = log_in(client, accounts["staff"], next=evil)
        assert urlsplit(response.headers["Location"]).path == "/console/", evil
        client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/console/customers/1")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/console/login"


def test_staff_may_not_open_the_admin_pages(as_role):
    client = as_role("staff")
    response = client.get("/console/events")
    assert response.status_code == 403
    assert "may not open this page" in response.get_data(as_text=True)


def test_marketer_may_not_open_the_admin_pages_but_admin_may(client, accounts):
    log_in(client, accounts["marketer"])
    assert client.get("/console/events").status_code == 403
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    log_in(client, accounts["admin"])
    assert client.get("/console/events").status_code == 200
