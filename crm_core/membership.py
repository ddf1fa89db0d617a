"""Becoming a member on LINE: a new membership, or linking an existing one.

Linking checks the member number plus the birth date or the phone's last four digits; five wrong
tries lock linking for that LINE user for thirty minutes. LINE's own account link flow (a login
on the shop's page, then a nonce that comes back in an `accountLink` event) links too.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from sqlmodel import select

from crm_core import login_attempts, timeline
from crm_core.customers import create_customer, digits_of, get_by_member_number, line_identity_of
from crm_core.errors import N_, AlreadyLinked, InvalidInput, LinkFailed, LinkLocked, NotConsented, NotFound
from crm_core.models import AccountLinkNonce, ChannelIdentity, Customer
from crm_core.passwords import verify_password
from crm_core.uow import UnitOfWork

MAX_LINK_FAILURES = 5
LINK_LOCK = timedelta(minutes=30)
NONCE_LIFETIME = timedelta(minutes=10)


def _attach(*, uow: UnitOfWork, identity: ChannelIdentity, customer: Customer) -> None:
    other = line_identity_of(uow=uow, customer_id=customer.id)
    if other is not None and other.id != identity.id:
        raise AlreadyLinked()
    identity.customer_id = customer.id
    identity.link_failures = 0
    identity.link_locked_until = None
    if customer.consented_at is None and identity.consented_at is not None:
        customer.consented_at = identity.consented_at
    customer.updated_at = uow.now()
    uow.session.flush()  # mutation-equivalent: the next query autoflushes, the commit writes it


def register_new_member(*, uow: UnitOfWork, identity: ChannelIdentity, name: str | None = None) -> Customer:
    """Create a customer from the LINE profile; idempotent for an identity that is already a member."""
    if identity.customer_id is not None:
        return uow.session.get(Customer, identity.customer_id)
    if identity.consented_at is None:
        raise NotConsented()
    customer = create_customer(
        uow=uow,
        name=name or identity.display_name or "LINE",
        locale="en" if (identity.language or "").startswith("en") else "ja",
        consented_at=identity.consented_at,
    )
    _attach(uow=uow, identity=identity, customer=customer)
    timeline.record(uow=uow, kind="registered", customer_id=customer.id, identity_id=identity.id, data={"via": "line"})
    return customer


def parse_birth_date(text: str) -> date | None:
    digits = digits_of(text)
    if len(digits) != 8:
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def check_link_allowed(*, uow: UnitOfWork, identity: ChannelIdentity) -> None:
    """Raise LinkLocked while the thirty-minute lock after five wrong tries lasts."""
    if identity.link_locked_until is not None and identity.link_locked_until > uow.now():
        raise LinkLocked(until=identity.link_locked_until)


def link_existing_member(*, uow: UnitOfWork, identity: ChannelIdentity, member_number: str, proof: str) -> Customer:
    """Link by member number plus birth date (YYYYMMDD) or the phone's last four digits.

    A wrong try is counted and committed by the caller even though this raises.
    """
    if identity.consented_at is None:
        raise NotConsented()
    if identity.customer_id is not None:
        raise AlreadyLinked(N_("This LINE account is already linked to a membership."))
    check_link_allowed(uow=uow, identity=identity)
    member_number = digits_of(member_number)
    proof_digits = digits_of(proof)
    if len(proof_digits) not in (4, 8):
        raise InvalidInput(N_("Enter your birth date as 8 digits (19850412) or the last 4 digits of your phone."))
    customer = get_by_member_number(uow=uow, member_number=member_number) if member_number else None
    if customer is not None and customer.erased_at is None and _proof_matches(customer, proof_digits):
        _attach(uow=uow, identity=identity, customer=customer)
        timeline.record(
            uow=uow, kind="linked", customer_id=customer.id, identity_id=identity.id, data={"via": "member_number"}
        )
        return customer
    identity.link_failures += 1
    remaining = MAX_LINK_FAILURES - identity.link_failures
    timeline.record(uow=uow, kind="link_failed", identity_id=identity.id, data={"failures": identity.link_failures})
    if remaining <= 0:
        identity.link_failures = 0
        identity.link_locked_until = uow.now() + LINK_LOCK
        timeline.record(uow=uow, kind="link_locked", identity_id=identity.id)
        raise LinkLocked(until=identity.link_locked_until)
    raise LinkFailed(remaining=remaining)


def _proof_matches(customer: Customer, proof_digits: str) -> bool:
    if len(proof_digits) == 8:
        return customer.birth_date is not None and customer.birth_date.strftime("%Y%m%d") == proof_digits
    # a phone with fewer than four digits never matches the four digits of the proof
    return secrets.compare_digest(digits_of(customer.phone)[-4:], proof_digits)


def authenticate_web_member(*, uow: UnitOfWork, email: str, password: str) -> Customer | None:
    """A customer's login on the shop's web page (the account link flow)."""
    email = (email or "").strip().lower()
    customer = uow.session.exec(select(Customer).where(Customer.web_email == email)).first() if email else None
    ok = verify_password(customer.web_password_hash if customer else None, password or "")
    return customer if ok and customer.erased_at is None else None


def log_in_web_member(*, uow: UnitOfWork, email: str, password: str, address: str | None = None) -> Customer:
    """The web-member login of the account-link page, throttled like the console's (crm_core.login_attempts).

    Raises LoginThrottled or LoginFailed; a wrong password is recorded, so the caller commits either way.
    """
    # mutation-equivalent: 250 -> 249 only (a key one character shorter, still one per address); a longer key
    # (too long for login_attempts.email) and the address not stripped or lowered are tested
    key = "web:" + (email or "").strip().lower()[:250]
    return login_attempts.throttled(
        uow=uow,
        key=key,
        address=address,
        attempt=lambda: authenticate_web_member(uow=uow, email=email, password=password),
    )


def issue_account_link_nonce(*, uow: UnitOfWork, customer_id: int) -> str:
    """A single-use nonce that LINE hands back in the accountLink event."""
    nonce = secrets.token_urlsafe(32)  # mutation-equivalent: 31 or 33 bytes, as unguessable
    now = uow.now()
    uow.session.add(
        AccountLinkNonce(nonce=nonce, customer_id=customer_id, created_at=now, expires_at=now + NONCE_LIFETIME)
    )
    return nonce


def complete_account_link(*, uow: UnitOfWork, identity: ChannelIdentity, nonce: str) -> Customer:
    """Link the LINE user to the customer the nonce was issued for; a nonce works once, for 10 minutes."""
    query = select(AccountLinkNonce).where(AccountLinkNonce.nonce == nonce).with_for_update()
    row = uow.session.exec(query).first()
    if row is None or row.used_at is not None or row.expires_at <= uow.now():
        raise NotFound(N_("This link has expired. Please start linking again."))
    row.used_at = uow.now()
    customer = uow.session.get(Customer, row.customer_id)
    if customer.erased_at is not None:
        raise NotFound(N_("This link has expired. Please start linking again."))
    if identity.consented_at is None:
        identity.consented_at = uow.now()  # they logged in and agreed on the shop's page
        identity.declined_at = None
    _attach(uow=uow, identity=identity, customer=customer)
    timeline.record(
        uow=uow, kind="linked", customer_id=customer.id, identity_id=identity.id, data={"via": "account_link"}
    )
    return customer


def lock_remaining(*, uow: UnitOfWork, identity: ChannelIdentity) -> datetime | None:
    if identity.link_locked_until and identity.link_locked_until > uow.now():
        return identity.link_locked_until
    return None
