# ruff: noqa: S105, S106  (test passwords)
"""Console login: CSRF, wrong passwords, throttling, logout and session expiry."""

from __future__ import annotations

from dataclasses import replace
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


def test_wrong_passwords_make_the_next_try_wait_longer_but_never_lock_the_owner_out(
    client, accounts, clock, uow_factory
):
    for _ in range(2):
        assert log_in(client, accounts["staff"], password="wrong password!").status_code == 401
    third = log_in(client, accounts["staff"], password="wrong password!")
    assert third.status_code == 429
    assert "Try again in 2 seconds" in third.get_data(as_text=True)
    assert log_in(client, accounts["staff"]).status_code == 429, "the right password waits too"
    assert log_in(client, accounts["admin"]).status_code == 302, "other accounts do not wait"
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})

    waits = []
    for _ in range(12):  # someone who knows the address keeps trying, as fast as allowed
        clock.advance(seconds=waits[-1] if waits else 2)
        refused = log_in(client, accounts["staff"], password="wrong password!").get_data(as_text=True)
        waits.append(int(refused.split("Try again in ")[1].split(" ")[0]))
    assert waits[:4] == [4, 8, 16, 32], "the wait doubles with each wrong password"
    assert max(waits) == 300, "but never exceeds five minutes"

    clock.advance(minutes=5)
    assert log_in(client, accounts["staff"]).status_code == 302, "the owner gets in after a short wait"
    with uow_factory() as uow:
        left = uow.session.exec(select(LoginAttempt).where(LoginAttempt.email == accounts["staff"])).all()
    assert left == [], "a successful login clears the failures"


def test_failures_spread_over_more_than_fifteen_minutes_do_not_add_up(client, accounts, clock):
    for _ in range(6):
        assert log_in(client, accounts["staff"], password="wrong password!").status_code == 401
        clock.advance(minutes=8)
    assert log_in(client, accounts["staff"]).status_code == 302


def from_address(client, address: str, email: str, password: str = PASSWORD, **headers):
    token = csrf_token(client)
    form = {"email": email, "password": password, "csrf_token": token}
    return client.post("/console/login", data=form, headers=headers, environ_base={"REMOTE_ADDR": address})


def test_one_address_cannot_spray_passwords_across_many_accounts(client, app, accounts, clock):
    for number in range(20):
        guess = from_address(client, "203.0.113.7", f"person{number}@example.jp", "password123!")
        assert guess.status_code == 401
        clock.advance(seconds=20)
    refused = from_address(client, "203.0.113.7", accounts["staff"])
    assert refused.status_code == 429, "even a right password waits"
    assert "from your network" in refused.get_data(as_text=True)
    forged = from_address(client, "203.0.113.7", accounts["staff"], X_Forwarded_For="198.51.100.1")
    assert forged.status_code == 429, "a client cannot choose its address when no proxy is trusted"

    other = app.test_client()
    assert from_address(other, "198.51.100.9", accounts["staff"]).status_code == 302, "other addresses log in"

    clock.advance(minutes=9)  # the first of the twenty is now fifteen minutes old
    assert from_address(client, "203.0.113.7", accounts["staff"]).status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, app, accounts, clock):
    services = app.extensions["kizuna"]
    services.settings = replace(services.settings, trusted_proxies=1)
    proxy = "10.0.0.2"
    for number in range(20):
        guess = from_address(client, proxy, f"p{number}@example.jp", "password123!", X_Forwarded_For="203.0.113.7")
        assert guess.status_code == 401
    assert from_address(client, proxy, accounts["staff"], X_Forwarded_For="203.0.113.7").status_code == 429
    assert from_address(client, proxy, accounts["staff"], X_Forwarded_For="198.51.100.9").status_code == 302


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
        assert set(session) <= {"sid", "lang", "_permanent", "csrf_token"}, "only a session id, no identity"


def test_logout_ends_the_session_on_the_server(as_role):
    client = as_role("staff")
    copied = client.get_cookie("session").value  # as someone who took the cookie would keep it

    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    client.set_cookie("session", copied)

    assert client.get("/console/").status_code == 302, "the old cookie no longer opens the console"


def test_a_session_kept_alive_elsewhere_still_ends_after_thirty_idle_minutes_on_the_server(as_role, clock):
    client = as_role("staff")
    clock.advance(minutes=20)
    assert client.get("/console/").status_code == 200
    fresh = client.get_cookie("session").value
    clock.advance(minutes=31)

    client.set_cookie("session", fresh)
    assert client.get("/console/").status_code == 302


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
