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


@pytest.fixture
def salon(uow_factory, clock, line):
    """A salon taking bookings (Monday to Sunday 10:00-19:00): two stylists for cuts, a consultation with a
    place of its own; 花子 is a LINE friend, 太郎 blocked the account, 次郎 has no LINE."""
    from datetime import timedelta

    from crm_core import customers, hours, reservations, stores
    from crm_core.models import ChannelIdentity

    with uow_factory() as uow:
        open_hours = hours.from_form(weekly={day: "10:00-19:00" for day in hours.WEEKDAYS}, dates="")
        store, _created = stores.upsert_store(
            uow=uow, code="SALON", name="表参道サロン", phone="0312345678", business_hours=open_hours
        )
        reservations.upsert_resource(uow=uow, store_id=store.id, code="aoi", name="あおい")
        reservations.upsert_resource(uow=uow, store_id=store.id, code="ren", name="れん")
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="cut", name="カット", duration_minutes=60, price=5500,
            resource_codes=["aoi", "ren"],
        )  # fmt: skip
        reservations.upsert_menu(
            uow=uow, store_id=store.id, code="consult", name="相談", duration_minutes=30, price=0, capacity=1
        )
        people = {}
        for key, name, state in (
            ("hanako", "山田 花子", "friend"),
            ("taro", "佐藤 太郎", "blocked"),
            ("jiro", "鈴木 次郎", None),
        ):
            customer = customers.create_customer(uow=uow, name=name)
            people[key] = customer.id
            if state:
                now = clock.now()
                address = line.add_user(name)  # a user LINE knows, so a push to them is accepted
                line.follow(address)
                uow.session.add(
                    ChannelIdentity(
                        channel="line", address=address, customer_id=customer.id, display_name=name,
                        language="ja", followed=state == "friend",
                        blocked_at=now - timedelta(days=1) if state == "blocked" else None,
                        created_at=now, updated_at=now,
                    )
                )  # fmt: skip
        uow.commit()
        return {"store_id": store.id, **people}
