# ruff: noqa: S105, S106  (test passwords)
"""Becoming a member, at the service: who may link which membership, and for how long a lock or a link lasts.

The LINE conversation around it is tested end to end in tests/e2e/test_membership_on_line.py; these
tests pin the rules at their boundaries with the injected clock (issue 18).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from crm_core import channels, customers, membership
from crm_core.errors import AlreadyLinked, InvalidInput, LinkFailed, LinkLocked, NotConsented, NotFound
from crm_core.login_attempts import LoginFailed, LoginThrottled
from crm_core.models import LoginAttempt, TimelineEntry
from crm_core.passwords import hash_password

PASSWORD = "correct horse battery"


def _identity(uow, address="U1", *, consented=True, display_name="けん", language="ja"):
    identity = channels.ensure_identity(uow=uow, address=address)
    identity.display_name, identity.language = display_name, language
    identity.consented_at = uow.now() if consented else None
    return identity


def _member(uow, **fields):
    return customers.create_customer(
        uow=uow, name="佐藤 健", birth_date=date(1985, 4, 12), phone="090-1234-5678", **fields
    )


def _fail(uow, identity, member_number, times=1):
    for _ in range(times):
        with pytest.raises((LinkFailed, LinkLocked)):
            membership.link_existing_member(uow=uow, identity=identity, member_number=member_number, proof="0000")


def test_a_new_member_gets_the_line_name_and_an_english_profile_gets_english(uow_factory):
    with uow_factory() as uow:
        alex = membership.register_new_member(uow=uow, identity=_identity(uow, "U1", language="en-US"))
        anon = membership.register_new_member(uow=uow, identity=_identity(uow, "U2", display_name=None, language=None))
        assert (alex.name, alex.locale) == ("けん", "en")
        assert (anon.name, anon.locale) == ("LINE", "ja")
        assert alex.consented_at is not None


def test_registering_twice_returns_the_same_member_and_nobody_registers_without_agreeing(uow_factory):
    with uow_factory() as uow:
        identity = _identity(uow)
        first = membership.register_new_member(uow=uow, identity=identity)
        assert membership.register_new_member(uow=uow, identity=identity).id == first.id
        with pytest.raises(NotConsented):
            membership.register_new_member(uow=uow, identity=_identity(uow, "U2", consented=False))


def test_linking_by_birth_date_or_by_the_last_four_phone_digits(uow_factory):
    with uow_factory() as uow:
        member, other = _member(uow), _member(uow)
        by_birth = membership.link_existing_member(
            uow=uow, identity=_identity(uow, "U1"), member_number=member.member_number, proof="1985-04-12"
        )
        by_phone = membership.link_existing_member(
            uow=uow, identity=_identity(uow, "U2"), member_number=other.member_number, proof="5678"
        )
        assert (by_birth.id, by_phone.id) == (member.id, other.id)
        assert customers.get_by_line_user_id(uow=uow, line_user_id="U2").id == other.id
        extension = customers.create_customer(uow=uow, name="内線", phone="4321")  # exactly four digits
        by_extension = membership.link_existing_member(
            uow=uow, identity=_identity(uow, "U3"), member_number=extension.member_number, proof="4321"
        )
        assert by_extension.id == extension.id


def test_a_wrong_proof_does_not_link(uow_factory):
    with uow_factory() as uow:
        member = _member(uow)
        no_phone = customers.create_customer(uow=uow, name="電話なし", phone="12")
        identity = _identity(uow)
        for number, proof in (
            (member.member_number, "19850413"),  # the day after
            (member.member_number, "1234"),  # the first four digits, not the last
            (no_phone.member_number, "0012"),  # a phone number too short to have four digits
            (no_phone.member_number, "19850412"),  # no birth date on file
        ):
            with pytest.raises(LinkFailed):
                membership.link_existing_member(uow=uow, identity=identity, member_number=number, proof=proof)
        assert identity.customer_id is None


def test_a_proof_that_is_neither_a_date_nor_four_digits_is_refused_without_counting_a_try(uow_factory):
    with uow_factory() as uow:
        member, identity = _member(uow), _identity(uow)
        for proof in ("567", "56789", "1985041"):
            with pytest.raises(InvalidInput):
                membership.link_existing_member(
                    uow=uow, identity=identity, member_number=member.member_number, proof=proof
                )
        assert identity.link_failures == 0


def test_each_wrong_try_says_how_many_are_left_and_the_fifth_locks_for_thirty_minutes(uow_factory, clock):
    with uow_factory() as uow:
        member, identity = _member(uow), _identity(uow)
        left = []
        for _ in range(4):
            with pytest.raises(LinkFailed) as failed:
                membership.link_existing_member(
                    uow=uow, identity=identity, member_number=member.member_number, proof="0000"
                )
            left.append(failed.value.params["remaining"])
        assert left == [4, 3, 2, 1]
        with pytest.raises(LinkLocked) as locked:
            membership.link_existing_member(
                uow=uow, identity=identity, member_number=member.member_number, proof="0000"
            )
        assert locked.value.params["until"] == clock.now() + timedelta(minutes=30)
        assert membership.lock_remaining(uow=uow, identity=identity) == clock.now() + timedelta(minutes=30)


def test_the_lock_holds_until_its_last_instant_and_lifts_exactly_thirty_minutes_later(uow_factory, clock):
    with uow_factory() as uow:
        member, identity = _member(uow), _identity(uow)
        _fail(uow, identity, member.member_number, times=5)
        until = identity.link_locked_until
        clock.set(until - timedelta(microseconds=1))
        assert membership.lock_remaining(uow=uow, identity=identity) == until
        with pytest.raises(LinkLocked):
            membership.link_existing_member(
                uow=uow, identity=identity, member_number=member.member_number, proof="5678"
            )
        clock.set(until)
        assert membership.lock_remaining(uow=uow, identity=identity) is None
        linked = membership.link_existing_member(
            uow=uow, identity=identity, member_number=member.member_number, proof="5678"
        )
        assert linked.id == member.id
        assert (identity.link_failures, identity.link_locked_until) == (0, None)


def test_after_the_lock_the_customer_has_five_fresh_tries(uow_factory, clock):
    with uow_factory() as uow:
        member, identity = _member(uow), _identity(uow)
        _fail(uow, identity, member.member_number, times=5)
        clock.set(identity.link_locked_until)
        with pytest.raises(LinkFailed) as failed:
            membership.link_existing_member(
                uow=uow, identity=identity, member_number=member.member_number, proof="0000"
            )
        assert failed.value.params["remaining"] == 4


def test_a_successful_link_forgets_the_earlier_wrong_tries(uow_factory):
    with uow_factory() as uow:
        member, identity = _member(uow), _identity(uow)
        _fail(uow, identity, member.member_number, times=3)
        membership.link_existing_member(uow=uow, identity=identity, member_number=member.member_number, proof="5678")
        assert identity.link_failures == 0


def test_a_membership_links_to_one_line_account_and_an_erased_one_to_none(uow_factory):
    with uow_factory() as uow:
        member, erased = _member(uow), _member(uow)
        customers.erase_customer(uow=uow, customer_id=erased.id)
        membership.link_existing_member(
            uow=uow, identity=_identity(uow, "U1"), member_number=member.member_number, proof="5678"
        )
        with pytest.raises(AlreadyLinked):
            membership.link_existing_member(
                uow=uow, identity=_identity(uow, "U2"), member_number=member.member_number, proof="5678"
            )
        with pytest.raises(LinkFailed):
            membership.link_existing_member(
                uow=uow, identity=_identity(uow, "U3"), member_number=erased.member_number, proof="5678"
            )


def test_linking_carries_the_line_consent_to_a_member_who_had_not_agreed(uow_factory, clock):
    with uow_factory() as uow:
        member = _member(uow)
        agreed_at = clock.now()
        identity = _identity(uow)
        clock.advance(hours=1)
        linked = membership.link_existing_member(
            uow=uow, identity=identity, member_number=member.member_number, proof="5678"
        )
        assert linked.consented_at == agreed_at
        assert linked.updated_at == clock.now()


def test_a_member_who_agreed_before_keeps_the_date_they_agreed(uow_factory, clock):
    with uow_factory() as uow:
        agreed_at = clock.now()
        member = _member(uow, consented_at=agreed_at)
        clock.advance(days=30)
        identity = _identity(uow)  # agrees again on LINE, a month later
        membership.link_existing_member(uow=uow, identity=identity, member_number=member.member_number, proof="5678")
        assert member.consented_at == agreed_at


def test_birth_dates_are_read_from_eight_digits_only():
    assert membership.parse_birth_date("1985年04月12日") == date(1985, 4, 12)
    assert membership.parse_birth_date("19851112") == date(1985, 11, 12)
    assert membership.parse_birth_date("1985/4/12") is None
    assert membership.parse_birth_date("19850231") is None  # no 31 February


def _web_member(uow, email="ken@example.jp"):
    member = _member(uow)
    member.web_email, member.web_password_hash = email, hash_password(PASSWORD)
    return member


def test_a_web_member_logs_in_with_any_case_of_the_address_but_not_once_erased(uow_factory):
    with uow_factory() as uow:
        member = _web_member(uow)
        assert membership.authenticate_web_member(uow=uow, email=" Ken@Example.JP ", password=PASSWORD).id == member.id
        assert membership.authenticate_web_member(uow=uow, email="ken@example.jp", password="wrong password") is None
        assert membership.authenticate_web_member(uow=uow, email="", password=PASSWORD) is None
        member.erased_at = uow.now()
        assert membership.authenticate_web_member(uow=uow, email="ken@example.jp", password=PASSWORD) is None


def test_an_account_link_nonce_works_until_the_instant_ten_minutes_are_up(uow_factory, clock):
    with uow_factory() as uow:
        member = _member(uow)
        nonce = membership.issue_account_link_nonce(uow=uow, customer_id=member.id)
        late = membership.issue_account_link_nonce(uow=uow, customer_id=member.id)
        issued = clock.now()
        clock.set(issued + timedelta(minutes=10) - timedelta(microseconds=1))
        identity = _identity(uow, consented=False)
        assert membership.complete_account_link(uow=uow, identity=identity, nonce=nonce).id == member.id
        assert identity.customer_id == member.id
        assert identity.consented_at == clock.now()  # they agreed on the shop's page
        clock.set(issued + timedelta(minutes=10))
        with pytest.raises(NotFound):
            membership.complete_account_link(uow=uow, identity=_identity(uow, "U2"), nonce=late)


def test_an_account_link_nonce_works_once_and_never_for_an_erased_customer(uow_factory):
    with uow_factory() as uow:
        member, erased = _member(uow), _member(uow)
        nonce = membership.issue_account_link_nonce(uow=uow, customer_id=member.id)
        for_erased = membership.issue_account_link_nonce(uow=uow, customer_id=erased.id)
        customers.erase_customer(uow=uow, customer_id=erased.id)
        membership.complete_account_link(uow=uow, identity=_identity(uow, "U1"), nonce=nonce)
        for identity, used in ((_identity(uow, "U2"), nonce), (_identity(uow, "U3"), for_erased)):
            with pytest.raises(NotFound):
                membership.complete_account_link(uow=uow, identity=identity, nonce=used)
            assert identity.customer_id is None


def _history(uow, identity):
    query = select(TimelineEntry.kind).where(TimelineEntry.identity_id == identity.id).order_by(TimelineEntry.id)
    return list(uow.session.exec(query))


def test_the_customers_history_shows_how_they_became_a_member_and_every_wrong_try(uow_factory):
    with uow_factory() as uow:
        member, identity = _member(uow), _identity(uow)
        new = _identity(uow, "U2")
        membership.register_new_member(uow=uow, identity=new)
        _fail(uow, identity, member.member_number, times=5)
        assert _history(uow, new) == ["registered"]
        assert _history(uow, identity) == ["link_failed"] * 5 + ["link_locked"]
        other, nonce_identity = _member(uow), _identity(uow, "U3")
        nonce = membership.issue_account_link_nonce(uow=uow, customer_id=other.id)
        membership.complete_account_link(uow=uow, identity=nonce_identity, nonce=nonce)
        assert _history(uow, nonce_identity) == ["linked"]
        third, by_number = _member(uow), _identity(uow, "U4")
        membership.link_existing_member(uow=uow, identity=by_number, member_number=third.member_number, proof="5678")
        assert _history(uow, by_number) == ["linked"]


def test_the_web_member_login_is_throttled_like_the_consoles(uow_factory):
    with uow_factory() as uow:
        member = _web_member(uow)
        assert membership.log_in_web_member(uow=uow, email="Ken@example.jp", password=PASSWORD).id == member.id
        with pytest.raises(LoginFailed):
            membership.log_in_web_member(uow=uow, email="ken@example.jp", password="wrong password")
        with pytest.raises(LoginFailed):
            membership.log_in_web_member(uow=uow, email="k" * 300 + "@example.jp", password=PASSWORD)
        uow.session.flush()  # the failures are stored (PostgreSQL checks the key fits its column)
        keys = uow.session.exec(select(LoginAttempt.email)).all()
        assert max(map(len, keys)) <= LoginAttempt.__table__.c.email.type.length  # SQLite would store a longer one


def test_wrong_web_passwords_for_one_address_do_not_slow_down_another(uow_factory):
    with uow_factory() as uow:
        _web_member(uow, "ken@example.jp")
        other = _web_member(uow, "hanako@example.jp")
        for _ in range(3):
            with pytest.raises((LoginFailed, LoginThrottled)):  # the third says how long the next one waits
                membership.log_in_web_member(uow=uow, email="ken@example.jp", password="wrong password")
        with pytest.raises(LoginThrottled):
            membership.log_in_web_member(uow=uow, email="ken@example.jp", password=PASSWORD)
        with pytest.raises(LoginThrottled):  # nor with the address typed otherwise
            membership.log_in_web_member(uow=uow, email=" KEN@Example.jp ", password=PASSWORD)
        assert membership.log_in_web_member(uow=uow, email="hanako@example.jp", password=PASSWORD).id == other.id
