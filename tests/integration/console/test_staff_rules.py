# ruff: noqa: S105, S106  (test passwords)
"""Console accounts at the service: the rules the account pages and `kizuna users` rely on (issue 18).

The pages and commands are tested in test_accounts.py and tests/integration/cli/test_accounts_cli.py.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from crm_core import staff, staff_sessions
from crm_core.errors import Conflict, InvalidInput, LastAdmin, NotFound
from crm_core.login_attempts import LoginFailed, LoginThrottled
from crm_core.models import LoginAttempt, Store

PASSWORD = "correct horse battery"


def _user(uow, email, role="staff", **fields):
    return staff.create_staff_user(uow=uow, email=email, password=fields.pop("password", PASSWORD), role=role, **fields)


def _can_log_in(uow, email, password=PASSWORD) -> bool:
    return staff.authenticate(uow=uow, email=email, password=password) is not None


def test_a_new_account_is_stored_under_its_normalized_address_with_a_default_name(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, " Hanako.Yamada@Example.JP ")
        named = _user(uow, "ken@example.jp", display_name="  " + "健" * 300)
        assert user.email == "hanako.yamada@example.jp"
        assert user.display_name == "hanako.yamada"
        assert named.display_name == "健" * 200
        assert _can_log_in(uow, "HANAKO.YAMADA@example.jp")


def test_an_address_is_taken_once_whatever_its_case(uow_factory):
    with uow_factory() as uow:
        _user(uow, "ken@example.jp")
        with pytest.raises(Conflict) as taken:
            _user(uow, "KEN@example.jp")
        assert taken.value.params["field"] == "email"


@pytest.mark.parametrize(
    ("email", "role", "password", "field"),
    [
        ("not an address", "staff", PASSWORD, "email"),
        ("", "staff", PASSWORD, "email"),
        ("ken@example.jp", "owner", PASSWORD, "role"),
        ("ken@example.jp", "staff", "x" * 9, "password"),
    ],
)
def test_a_bad_account_is_refused_next_to_the_field_at_fault(uow_factory, email, role, password, field):
    with uow_factory() as uow, pytest.raises(InvalidInput) as refused:
        _user(uow, email, role=role, password=password)
    assert refused.value.params["field"] == field


def test_a_password_of_exactly_ten_characters_is_long_enough(uow_factory):
    with uow_factory() as uow:
        _user(uow, "ken@example.jp", password="x" * 10)
        assert _can_log_in(uow, "ken@example.jp", "x" * 10)
        staff.set_password(
            uow=uow, user=staff.check_staff_user_by_email(uow=uow, email="ken@example.jp"), password="y" * 10
        )
        assert _can_log_in(uow, "ken@example.jp", "y" * 10)
        with pytest.raises(InvalidInput):
            staff.set_password(
                uow=uow, user=staff.check_staff_user_by_email(uow=uow, email="ken@example.jp"), password="z" * 9
            )


def test_an_invited_account_has_no_password_anyone_could_guess(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp", password=None)
        for guess in ("", "None", PASSWORD):
            assert not _can_log_in(uow, "ken@example.jp", guess)
        assert user.password_hash


def test_a_role_this_version_does_not_know_is_refused_when_changing_one_too(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp", "marketer")
        with pytest.raises(InvalidInput) as refused:
            staff.set_role(uow=uow, staff_user_id=user.id, role="owner")  # it would rank below staff
        assert refused.value.params["field"] == "role"
        assert user.role == "marketer"


def test_the_home_store_is_found_by_its_code_in_any_case(uow_factory):
    with uow_factory() as uow:
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.session.flush()
        user = _user(uow, "ken@example.jp", home_store_code="shibuya")
        assert user.home_store_id == store.id
        assert staff.set_home_store(uow=uow, staff_user_id=user.id, store_code="  ").home_store_id is None
        with pytest.raises(InvalidInput) as unknown:
            staff.set_home_store(uow=uow, staff_user_id=user.id, store_code="SHINJUKU")
        assert unknown.value.params["field"] == "home_store"


def test_the_list_is_sorted_by_address_and_a_missing_account_is_named(uow_factory):
    with uow_factory() as uow:
        for email in ("c@example.jp", "a@example.jp", "b@example.jp"):
            _user(uow, email)
        assert [user.email for user in staff.list_staff_users(uow=uow)] == [
            "a@example.jp",
            "b@example.jp",
            "c@example.jp",
        ]
        with pytest.raises(NotFound):
            staff.check_staff_user(uow=uow, staff_user_id=999)
        with pytest.raises(NotFound):
            staff.check_staff_user_by_email(uow=uow, email="nobody@example.jp")


def test_an_account_is_found_by_its_address_as_typed_on_the_command_line(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp")
        assert staff.check_staff_user_by_email(uow=uow, email=" Ken@Example.JP ").id == user.id


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(uow_factory):
    with uow_factory() as uow:
        owner, second = _user(uow, "owner@example.jp", "admin"), _user(uow, "second@example.jp", "admin")
        staff.disable_staff_user(uow=uow, staff_user_id=second.id)  # another admin is left
        with pytest.raises(LastAdmin):
            staff.disable_staff_user(uow=uow, staff_user_id=owner.id)
        with pytest.raises(LastAdmin):
            staff.set_role(uow=uow, staff_user_id=owner.id, role="marketer")
        assert staff.set_role(uow=uow, staff_user_id=owner.id, role="admin").role == "admin"  # no change: fine
        assert staff.set_role(uow=uow, staff_user_id=second.id, role="staff").role == "staff"  # a disabled admin
        assert (owner.role, owner.active) == ("admin", True)


def test_with_two_active_admins_one_may_step_down(uow_factory):
    with uow_factory() as uow:
        owner, second = _user(uow, "owner@example.jp", "admin"), _user(uow, "second@example.jp", "admin")
        assert staff.set_role(uow=uow, staff_user_id=second.id, role="marketer").role == "marketer"
        staff.set_role(uow=uow, staff_user_id=second.id, role="admin")
        assert not staff.disable_staff_user(uow=uow, staff_user_id=owner.id, by_staff_user_id=second.id).active


def test_nobody_disables_their_own_account(uow_factory):
    with uow_factory() as uow:
        owner, _ = _user(uow, "owner@example.jp", "admin"), _user(uow, "second@example.jp", "admin")
        with pytest.raises(InvalidInput):
            staff.disable_staff_user(uow=uow, staff_user_id=owner.id, by_staff_user_id=owner.id)
        assert owner.active


def test_disabling_ends_sessions_once_and_enabling_lets_the_old_password_in_again(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp")
        staff.disable_staff_user(uow=uow, staff_user_id=user.id)
        assert (user.active, user.session_epoch) == (False, 1)
        assert not _can_log_in(uow, "ken@example.jp")
        staff.disable_staff_user(uow=uow, staff_user_id=user.id)  # already disabled: nothing more ends
        assert user.session_epoch == 1
        enabled = staff.enable_staff_user(uow=uow, staff_user_id=user.id)  # the page names the account
        assert (enabled.id, enabled.active) == (user.id, True)
        assert _can_log_in(uow, "ken@example.jp")


def test_a_password_reset_voids_the_old_password_and_open_password_links(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp")
        staff.reset_password(uow=uow, staff_user_id=user.id, password="new password 1")
        assert (_can_log_in(uow, "ken@example.jp"), _can_log_in(uow, "ken@example.jp", "new password 1")) == (
            False,
            True,
        )
        assert staff.reset_password(uow=uow, staff_user_id=user.id).id == user.id  # the page links to it
        assert not _can_log_in(uow, "ken@example.jp", "new password 1")
        assert user.session_epoch == 2
        with pytest.raises(InvalidInput):
            staff.reset_password(uow=uow, staff_user_id=user.id, password="short")


def test_a_login_records_when_it_happened_and_a_failed_one_does_not(uow_factory, clock):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp")
        clock.advance(hours=1)
        with pytest.raises(LoginFailed):
            staff.log_in(uow=uow, email="ken@example.jp", password="wrong password")
        assert user.last_login_at is None
        assert staff.log_in(uow=uow, email=" KEN@example.jp ", password=PASSWORD).id == user.id
        assert user.last_login_at == clock.now()


def test_each_role_may_do_what_the_roles_below_it_may(uow_factory):
    with uow_factory() as uow:
        users = {role: _user(uow, f"{role}@example.jp", role) for role in staff.ROLES}
        allowed = {
            (role, needed) for role in staff.ROLES for needed in staff.ROLES if staff.has_role(users[role], needed)
        }
        assert allowed == {
            ("staff", "staff"),
            ("marketer", "staff"),
            ("marketer", "marketer"),
            ("admin", "staff"),
            ("admin", "marketer"),
            ("admin", "admin"),
        }
        users["staff"].role = "retired"  # a role this version does not know may do nothing
        assert not staff.has_role(users["staff"], "staff")


def test_disabling_or_resetting_an_account_ends_its_open_sessions(uow_factory):
    with uow_factory() as uow:
        user = _user(uow, "ken@example.jp")
        for _ in range(2):
            staff_sessions.open_session(uow=uow, user=user, user_agent="Mozilla/5.0 (iPad)")
        uow.session.flush()
        assert len(staff_sessions.list_sessions(uow=uow, staff_user_id=user.id)) == 2
        staff.reset_password(uow=uow, staff_user_id=user.id, password="new password 1")
        assert staff_sessions.list_sessions(uow=uow, staff_user_id=user.id) == []
        staff_sessions.open_session(uow=uow, user=user)
        uow.session.flush()
        staff.disable_staff_user(uow=uow, staff_user_id=user.id)
        assert staff_sessions.list_sessions(uow=uow, staff_user_id=user.id) == []


def test_a_login_with_an_overlong_address_is_a_wrong_login_not_an_error(uow_factory):
    with uow_factory() as uow:
        _user(uow, "ken@example.jp")
        with pytest.raises(LoginFailed):
            staff.log_in(uow=uow, email="k" * 300 + "@example.jp", password=PASSWORD)
        uow.session.flush()  # the failure is stored (PostgreSQL checks the key fits its column)
        (key,) = uow.session.exec(select(LoginAttempt.email)).all()
        assert len(key) <= LoginAttempt.__table__.c.email.type.length  # SQLite would store a longer one


def test_wrong_passwords_count_against_the_account_however_its_address_is_typed(uow_factory):
    with uow_factory() as uow:
        _user(uow, "ken@example.jp")
        for _ in range(3):  # the third says how long the next one waits
            with pytest.raises((LoginFailed, LoginThrottled)):
                staff.log_in(uow=uow, email="ken@example.jp", password="wrong password")
        with pytest.raises(LoginThrottled):  # not a way around the wait
            staff.log_in(uow=uow, email=" KEN@Example.jp ", password=PASSWORD)
