# ruff: noqa: S105, S106  (test passwords)
"""`kizuna users` and `kizuna tokens`: list, disable, reset a password, revoke; one-line errors."""

from __future__ import annotations

import re

import pytest

from crm_core import api_tokens, staff
from crm_core.models import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def owner(uow_factory):
    with uow_factory() as uow:
        user = staff.create_staff_user(uow=uow, email="owner@shop.example", password=PASSWORD, role="admin")
        user.last_login_at = uow.now()  # 2026-11-22 03:00 UTC
        uow.commit()
    return "owner@shop.example"


def account(uow_factory, email: str):
    with uow_factory() as uow:
        return staff.get_staff_user_by_email(uow=uow, email=email)


def test_users_create_with_a_home_store_and_users_list(run, owner, uow_factory):
    with uow_factory() as uow:
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        uow.commit()
    created = run(
        "users", "create", "--email", "till@shop.example", "--role", "staff", "--home-store", "shibuya",
        extra_env={"KIZUNA_NEW_PASSWORD": "long-password-1"},
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert account(uow_factory, "till@shop.example").home_store_id is not None

    listing = run("users", "list")

    assert listing.exit_code == 0, listing.output
    assert listing.output.splitlines() == [
        "owner@shop.example\tadmin\tactive\tlast login 2026-11-22 12:00",
        "till@shop.example\tstaff\tactive\tlast login -",
    ]
    unknown = run("users", "create", "--email", "x@shop.example", "--role", "staff", "--home-store", "NOWHERE",
                  extra_env={"KIZUNA_NEW_PASSWORD": "long-password-1"})  # fmt: skip
    assert unknown.exit_code == 1 and "no store with the code NOWHERE" in unknown.output
    assert "Traceback" not in unknown.output and account(uow_factory, "x@shop.example") is None


def test_users_disable_stops_the_account_but_not_the_last_admin(run, owner, uow_factory):
    run("users", "create", "--email", "till@shop.example", "--role", "staff", input="long-password-1\n" * 2)

    result = run("users", "disable", "Till@Shop.example")

    assert result.exit_code == 0, result.output
    user = account(uow_factory, "till@shop.example")
    assert not user.active and user.session_epoch == 1
    assert "till@shop.example\tstaff\tdisabled" in run("users", "list").output
    last_admin = run("users", "disable", owner)
    assert last_admin.exit_code == 1 and "at least one active admin" in last_admin.output
    assert account(uow_factory, owner).active
    nobody = run("users", "disable", "nobody@shop.example")
    assert nobody.exit_code == 1 and "no console account with the e-mail address nobody@shop.example" in nobody.output


def test_users_reset_password_asks_twice_and_voids_the_old_one(run, owner, uow_factory):
    mismatch = run("users", "reset-password", owner, input="new-password-1\nnew-password-2\n" * 3)
    assert mismatch.exit_code != 0
    short = run("users", "reset-password", owner, extra_env={"KIZUNA_NEW_PASSWORD": "short"})
    assert short.exit_code == 1 and "at least 10 characters" in short.output and "Traceback" not in short.output

    result = run("users", "reset-password", owner, input="new-password-1\nnew-password-1\n")

    assert result.exit_code == 0, result.output
    with uow_factory() as uow:
        assert staff.authenticate(uow=uow, email=owner, password=PASSWORD) is None
        assert staff.authenticate(uow=uow, email=owner, password="new-password-1") is not None
    assert account(uow_factory, owner).session_epoch == 1, "open sessions end"


def test_tokens_list_and_revoke(run, uow_factory, clock):
    raw = run("tokens", "create", "--name", "POS Shibuya").output.strip().splitlines()[-1]
    run("tokens", "create", "--name", "Web shop")
    with uow_factory() as uow:
        api_tokens.authenticate(uow=uow, raw=raw)
        uow.commit()

    listing = run("tokens", "list").output.splitlines()
    shibuya = next(line for line in listing if line.startswith("POS Shibuya"))
    name, prefix, scopes, store, created, last_use, state = shibuya.split("\t")
    assert (name, prefix, last_use, state) == ("POS Shibuya", f"{raw[:10]}...", "last use 2026-11-22 12:00", "active")
    assert (scopes, store) == (" ".join(api_tokens.SCOPES), "every store"), "no --scope: every scope"
    assert re.fullmatch(r"created \d{4}-\d\d-\d\d \d\d:\d\d", created)  # the command runs on the real clock
    assert any(line.startswith("Web shop") and "last use -" in line for line in listing)

    result = run("tokens", "revoke", "POS Shibuya")

    assert result.exit_code == 0, result.output
    with uow_factory() as uow:
        assert api_tokens.authenticate(uow=uow, raw=raw) is None
    assert re.search(r"^POS Shibuya\t.*\trevoked \d{4}-\d\d-\d\d \d\d:\d\d$", run("tokens", "list").output, re.M)
    again = run("tokens", "revoke", "POS Shibuya")
    assert again.exit_code == 1 and "no active token called POS Shibuya" in again.output
    assert "Traceback" not in again.output
