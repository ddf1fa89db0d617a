"""The `kizuna` command: accounts, tokens, jobs, the demo seed, and one-line errors."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from crm_core import api_tokens, coupons, loyalty, staff
from crm_core import stores as store_service
from crm_core.models import BookingMenu, Customer, Purchase, Store


def test_help_says_what_each_command_does(run):
    result = run("--help")
    assert result.exit_code == 0
    for command in ("demo", "serve", "db", "users", "tokens", "jobs", "scheduler"):
        assert command in result.output


def test_users_create_hashes_the_password(run, uow_factory):
    result = run("users", "create", "--email", "Staff@Shop.example", "--role", "staff", input="long-password-1\n" * 2)
    assert result.exit_code == 0, result.output
    with uow_factory() as uow:
        user = staff.get_staff_user_by_email(uow=uow, email="staff@shop.example")
        assert user.role == "staff"
        assert user.password_hash.startswith("$argon2id$")
        assert staff.authenticate(uow=uow, email="staff@shop.example", password="long-password-1")


def test_users_create_refuses_bad_input_in_one_line(run):
    result = run("users", "create", "--email", "a@b.example", "--role", "staff", input="short\nshort\n")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "at least 10 characters" in result.output
    bad_role = run("users", "create", "--email", "a@b.example", "--role", "owner", input="x" * 12 + "\n")
    assert bad_role.exit_code == 2 and "owner" in bad_role.output


def test_tokens_create_prints_the_token_alone_on_the_last_line_and_stores_a_hash(run, uow_factory):
    result = run("tokens", "create", "--name", "POS Shibuya")
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("kzn_") and " " not in raw
    with uow_factory() as uow:
        token = api_tokens.authenticate(uow=uow, raw=raw)
        assert token.name == "POS Shibuya" and token.token_hash != raw


def test_tokens_create_with_scopes_and_a_store_and_the_list_shows_them(run, uow_factory):
    from crm_core.models import Store

    with uow_factory() as uow:
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        uow.commit()
    result = run("tokens", "create", "--name", "POS Shibuya", "--scope", "purchases:write", "--store", "shibuya")
    assert result.exit_code == 0, result.output
    assert "for store SHIBUYA with scopes purchases:write" in result.output
    with uow_factory() as uow:
        token = api_tokens.authenticate(uow=uow, raw=result.output.strip().splitlines()[-1])
        assert api_tokens.scopes_of(token) == ("purchases:write",) and token.store_id is not None
    assert run("tokens", "create", "--name", "BI", "--scope", "customers:read").exit_code == 0
    listing = run("tokens", "list").output
    assert "POS Shibuya\t" in listing and "\tpurchases:write\tstore SHIBUYA\t" in listing
    assert "\tcustomers:read\tevery store\t" in listing

    too_wide = run("tokens", "create", "--name", "POS 2", "--scope", "customers:read", "--store", "SHIBUYA")
    assert too_wide.exit_code != 0 and "Traceback" not in too_wide.output
    assert "may only have these scopes" in too_wide.output
    assert "no scope nope" in run("tokens", "create", "--name", "X", "--scope", "nope").output


def test_jobs_lists_stable_ids_and_runs_one(run, line):
    listing = run("jobs")
    assert listing.exit_code == 0
    assert "outbox.deliver" in listing.output
    expire = next(row for row in listing.output.splitlines() if row.startswith("points.expire"))
    assert "next at the scheduler's start" in expire and "last never" in expire
    result = run("jobs", "run", "outbox.deliver", extra_env={"LINE_API_BASE_URL": line.base_url})
    assert result.exit_code == 0, result.output
    assert "outbox.deliver: nothing to deliver" in result.output
    assert run("jobs", "run", "nope").exit_code != 0
    assert run("jobs", "run", "points.expire").exit_code == 0
    expire = next(row for row in run("jobs").output.splitlines() if row.startswith("points.expire"))
    assert "03:00:00 JST" in expire.split("last")[0] and "last never" not in expire


def test_serve_without_settings_says_what_is_missing(run):
    result = run("serve")
    assert result.exit_code == 1
    assert "KIZUNA_SECRET_KEY" in result.output and "Traceback" not in result.output


def test_demo_no_serve_fills_the_database_once(run, uow_factory):
    first = run("demo", "--no-serve")
    assert first.exit_code == 0, first.output
    assert "300 customers" in first.output and "8 bookable menus" in first.output
    second = run("demo", "--no-serve")
    assert second.exit_code == 0 and "nothing added" in second.output
    with uow_factory() as uow:
        assert uow.session.exec(select(func.count()).select_from(Store)).one() == 2
        assert uow.session.exec(select(func.count()).select_from(BookingMenu)).one() == 8  # 4 in each store
        assert uow.session.exec(select(func.count()).select_from(Customer)).one() == 303  # + 3 LINE friends
        assert uow.session.exec(select(func.count()).select_from(Purchase)).one() > 2000
        reward = coupons.get_coupon(uow=uow, coupon_id=loyalty.get_program(uow=uow).stamp_reward_coupon_id)
        assert (reward.title, reward.benefit_kind) == ("スタンプカード特典 ドリンク1杯無料", "free_item")


def test_the_demo_keeps_one_admin_password_per_database(run, uow_factory):
    def login_line(result):
        return next(line for line in result.output.splitlines() if line.startswith("console login"))

    first, second = run("demo", "--no-serve"), run("demo", "--no-serve")

    assert login_line(first) == login_line(second)
    email, password = login_line(first).removeprefix("console login ").split(" / ")
    with uow_factory() as uow:
        assert staff.authenticate(uow=uow, email=email, password=password) is not None


def test_customers_erase(run, uow_factory):
    from crm_core import customers

    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子", phone="090-1234-5678", external_id="C-1")
        uow.commit()
    assert run("customers", "erase", str(customer.id), input="n\n").exit_code == 1  # asked, declined
    result = run("customers", "erase", str(customer.id), "--yes")
    assert result.exit_code == 0, result.output
    with uow_factory() as uow:
        erased = customers.get_customer(uow=uow, customer_id=customer.id)
        assert erased.erased_at is not None and erased.phone is None and erased.external_id is None
    again = run("customers", "erase", str(customer.id), "--yes")
    assert again.exit_code == 1 and "erased" in again.output


def test_stores_create_list_close_and_reopen(run, uow_factory):
    created = run("stores", "create", "--code", "shibuya", "--name", "渋谷店", "--phone", "03-1234-5678")
    assert created.exit_code == 0, created.output
    assert created.output.strip() == "created store SHIBUYA (渋谷店)"
    again = run("stores", "create", "--code", "SHIBUYA", "--name", "渋谷本店", "--address", "東京都渋谷区1-1")
    assert again.output.strip() == "updated store SHIBUYA (渋谷本店)"
    run("stores", "create", "--code", "UMEDA", "--name", "梅田店")

    assert run("stores", "close", "umeda").output.strip() == "store UMEDA is closed"
    listed = run("stores", "list")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        "SHIBUYA\t渋谷本店\topen\t0312345678\t東京都渋谷区1-1",
        "UMEDA\t梅田店\tclosed\t\t",
    ]
    assert run("stores", "reopen", "UMEDA").output.strip() == "store UMEDA is open"
    with uow_factory() as uow:
        assert [s.active for s in store_service.list_stores(uow=uow)] == [True, True]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("create", "--code", "渋谷", "--name", "渋谷店"), "A store code has 1 to 32 letters"),
        (("create", "--code", "SHIBUYA", "--name", " "), "A store needs a name."),
        (("create", "--code", "SHIBUYA", "--name", "渋谷店", "--phone", "12"), "A phone number has 10 to 15 digits"),
        (("close", "NOWHERE"), "No store with the code NOWHERE."),
    ],
)
def test_stores_refuse_bad_input_in_one_line(run, uow_factory, args, words):
    result = run("stores", *args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    with uow_factory() as uow:
        assert store_service.list_stores(uow=uow) == []
