"""Customers: creation, lookup, search and the view the API and console show."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, or_
from sqlmodel import select

from crm_core import contacts, timeline
from crm_core.contacts import digits_of  # noqa: F401  (re-exported: flows import it from here)
from crm_core.errors import N_, Erased, InvalidInput, NotFound
from crm_core.models import (
    Booking,
    BookingClaim,
    ChannelIdentity,
    Customer,
    EventLane,
    OutboxMessage,
    PointAccount,
    Purchase,
    PurchaseItem,
    Store,
    TimelineEntry,
    WebhookEvent,
)
from crm_core.uow import UnitOfWork

LINE = "line"
MEMBER_NUMBER_LENGTH = 10


def luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def is_member_number(text: str) -> bool:
    """Ten digits whose last is a Luhn check digit, so most typos are caught before a lookup."""
    return len(text) == MEMBER_NUMBER_LENGTH and text.isascii() and text.isdigit() and luhn_digit(text[:-1]) == text[-1]


def new_member_number(*, uow: UnitOfWork) -> str:
    while True:
        body = str(secrets.randbelow(9 * 10**8) + 10**8)
        number = body + luhn_digit(body)
        if uow.session.exec(select(Customer.id).where(Customer.member_number == number)).first() is None:
            return number


def create_customer(
    *,
    uow: UnitOfWork,
    name: str,
    locale: str = "ja",
    external_id: str | None = None,
    name_kana: str | None = None,
    birth_date: date | None = None,
    phone: str | None = None,
    email: str | None = None,
    consented_at: datetime | None = None,
    created_at: datetime | None = None,
) -> Customer:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(N_("A name is required."))
    now = uow.now()
    customer = Customer(
        member_number=new_member_number(uow=uow),
        external_id=external_id,
        name=name[:200],
        name_kana=name_kana,
        phone=phone,
        email=email,
        locale=locale if locale in ("ja", "en") else "ja",
        consented_at=consented_at,
        created_at=created_at or now,
        updated_at=now,
    )
    write_birthday(customer, birth_date)
    write_search_key(customer)
    uow.session.add(customer)
    uow.session.flush()
    return customer


def write_search_key(customer: Customer) -> None:
    """Recompute the one key search looks in; every path that writes a name, kana or phone calls this."""
    key = contacts.search_key(name=customer.name, name_kana=customer.name_kana, phone=customer.phone)
    customer.search_key = key or None


def write_birthday(customer: Customer, birth_date: date | None) -> None:
    """A full birth date, with the month and day birthday offers look at kept in step."""
    customer.birth_date = birth_date
    customer.birth_month = birth_date.month if birth_date else None
    customer.birth_day = birth_date.day if birth_date else None


def get_customer(*, uow: UnitOfWork, customer_id: int) -> Customer | None:
    return uow.session.get(Customer, customer_id)


def check_customer(*, uow: UnitOfWork, customer_id: int) -> Customer:
    """The customer, or NotFound / Erased: what the API and the till may act on."""
    customer = get_customer(uow=uow, customer_id=customer_id)
    if customer is None:
        raise NotFound(N_("No customer with this id."))
    if customer.erased_at is not None:
        raise Erased()
    return customer


def get_by_member_number(*, uow: UnitOfWork, member_number: str) -> Customer | None:
    return uow.session.exec(select(Customer).where(Customer.member_number == member_number)).first()


def get_by_external_id(*, uow: UnitOfWork, external_id: str) -> Customer | None:
    return uow.session.exec(select(Customer).where(Customer.external_id == external_id)).first()


def get_by_line_user_id(*, uow: UnitOfWork, line_user_id: str) -> Customer | None:
    query = (
        select(Customer)
        .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
        .where(ChannelIdentity.channel == LINE, ChannelIdentity.address == line_user_id)
    )
    return uow.session.exec(query).first()


def line_identity_of(*, uow: UnitOfWork, customer_id: int) -> ChannelIdentity | None:
    query = select(ChannelIdentity).where(ChannelIdentity.channel == LINE, ChannelIdentity.customer_id == customer_id)
    return uow.session.exec(query).first()


_UPDATABLE = ("name", "name_kana", "birth_date", "phone", "email", "locale")


def upsert_by_external_id(*, uow: UnitOfWork, external_id: str, fields: dict) -> tuple[Customer, bool]:
    """Create or update the customer the POS knows as `external_id`; True when created."""
    external_id = (external_id or "").strip()
    if not external_id:
        raise InvalidInput(N_("external_id is required."))
    customer = get_by_external_id(uow=uow, external_id=external_id)
    if customer is None:
        given = {key: fields[key] for key in _UPDATABLE if key in fields and key != "name"}
        customer = create_customer(uow=uow, external_id=external_id, name=fields.get("name") or "", **given)
        timeline.record(uow=uow, kind="created", customer_id=customer.id, data={"source": "api"})
        return customer, True
    if customer.erased_at is not None:
        raise Erased()
    for key in _UPDATABLE:
        if key in fields:
            if key == "name" and not (fields[key] or "").strip():
                raise InvalidInput(N_("A name is required."))
            if key == "birth_date":
                write_birthday(customer, fields[key])
            else:
                setattr(customer, key, fields[key])
    write_search_key(customer)
    customer.updated_at = uow.now()
    return customer, False


@dataclass(frozen=True)
class CustomerView:
    """What the API and the console show of a customer."""

    id: int
    member_number: str
    external_id: str | None
    name: str
    line_user_id: str | None
    line_display_name: str | None
    points_balance: int
    tier: str
    consented: bool
    blocked: bool
    marketing_opt_out: bool
    locale: str
    created_at: datetime

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "member_number": self.member_number,
            "external_id": self.external_id,
            "name": self.name,
            "line_user_id": self.line_user_id,
            "points_balance": self.points_balance,
            "tier": self.tier,
            "consented": self.consented,
            "blocked": self.blocked,
            "marketing_opt_out": self.marketing_opt_out,
            "locale": self.locale,
            "created_at": self.created_at.isoformat(),
        }


def points_balance(*, uow: UnitOfWork, customer_id: int) -> int:
    account = uow.session.get(PointAccount, customer_id)
    return account.balance if account else 0


def view(*, uow: UnitOfWork, customer: Customer) -> CustomerView:
    identity = line_identity_of(uow=uow, customer_id=customer.id)
    return CustomerView(
        id=customer.id,
        member_number=customer.member_number,
        external_id=customer.external_id,
        name=customer.name,
        line_user_id=identity.address if identity else None,
        line_display_name=identity.display_name if identity else None,
        points_balance=points_balance(uow=uow, customer_id=customer.id),
        tier=customer.tier,
        consented=customer.consented_at is not None,
        blocked=bool(identity and identity.blocked_at is not None),
        marketing_opt_out=customer.marketing_opt_out,
        locale=customer.locale,
        created_at=customer.created_at,
    )


def _like(text: str) -> str:
    """A LIKE pattern that finds `text` anywhere, with %, _ and \\ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(*, uow: UnitOfWork, text: str = "", after_id: int = 0, limit: int = 50) -> list[Customer]:
    """Customers whose name or kana (in any kana, with or without spaces), phone (in any format), e-mail,
    member number, external id or LINE user id matches `text`."""
    query = select(Customer).where(Customer.erased_at.is_(None), Customer.id > after_id)
    text = text.strip()
    if text:
        conditions = [
            Customer.email.ilike(_like(text), escape="\\"),
            Customer.external_id == text,
            Customer.member_number == text,
        ]
        folded = contacts.fold_kana(text)
        if folded:
            conditions.append(Customer.search_key.like(_like(folded), escape="\\"))
        digits = digits_of(text)
        if len(digits) >= 4:
            conditions.append(Customer.search_key.like(_like(digits), escape="\\"))
        identity_match = select(ChannelIdentity.customer_id).where(
            ChannelIdentity.address == text, ChannelIdentity.customer_id.is_not(None)
        )
        conditions.append(Customer.id.in_(identity_match))
        query = query.where(or_(*conditions))
    return list(uow.session.exec(query.order_by(Customer.id).limit(limit)))


@dataclass(frozen=True)
class PurchaseLine:
    """One purchase as the console lists it."""

    id: int
    occurred_at: datetime
    store_code: str
    store_name: str
    total: int
    item_count: int


def recent_purchases(*, uow: UnitOfWork, customer_id: int, limit: int = 10) -> list[PurchaseLine]:
    """The customer's latest purchases, newest first, with their store and number of items."""
    items = (
        select(func.coalesce(func.sum(PurchaseItem.quantity), 0))
        .where(PurchaseItem.purchase_id == Purchase.id)
        .correlate(Purchase)
        .scalar_subquery()
    )
    query = (
        select(Purchase.id, Purchase.occurred_at, Store.code, Store.name, Purchase.total, items)
        .join(Store, Store.id == Purchase.store_id)
        .where(Purchase.customer_id == customer_id)
        .order_by(Purchase.occurred_at.desc(), Purchase.id.desc())
        .limit(limit)
    )
    return [PurchaseLine(*row) for row in uow.session.exec(query)]


@dataclass(frozen=True)
class CustomerCounts:
    customers: int
    line_friends: int
    linked_members: int


def counts(*, uow: UnitOfWork) -> CustomerCounts:
    """Customers (not erased), LINE friends (following now) and members linked to LINE."""
    customers = uow.session.exec(select(func.count()).select_from(Customer).where(Customer.erased_at.is_(None))).one()
    friends = uow.session.exec(
        select(func.count())
        .select_from(ChannelIdentity)
        .where(ChannelIdentity.channel == LINE, ChannelIdentity.followed.is_(True))
    ).one()
    linked = uow.session.exec(
        select(func.count())
        .select_from(ChannelIdentity)
        .where(ChannelIdentity.channel == LINE, ChannelIdentity.customer_id.is_not(None))
    ).one()
    return CustomerCounts(customers=customers, line_friends=friends, linked_members=linked)


def erase_customer(*, uow: UnitOfWork, customer_id: int, staff_user_id: int | None = None) -> Customer:
    """Erase a customer's personal data on their request (APPI): what identifies them is removed.

    The name, kana, birth date, phone, e-mail, web login, external id and LINE link go; messages they
    wrote are blanked on the timeline; bookings lose their notes, and those still ahead are cancelled.
    Purchases, points and their ledger stay, anonymous, so the shop's figures still add up. The API and the
    till refuse the customer from then on.
    """
    customer = check_customer(uow=uow, customer_id=customer_id)
    now = uow.now()
    customer.name = "—"
    customer.name_kana = customer.birth_date = customer.birth_month = customer.birth_day = None
    customer.phone = customer.email = customer.search_key = None
    customer.web_email = customer.web_password_hash = customer.external_id = None
    customer.marketing_opt_out = True
    customer.erased_at = customer.updated_at = now
    identities = list(uow.session.exec(select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)))
    identity_ids = [identity.id for identity in identities]
    entries = select(TimelineEntry).where(
        or_(TimelineEntry.customer_id == customer_id, TimelineEntry.identity_id.in_(identity_ids))
    )
    for entry in uow.session.exec(entries):
        entry.summary = None
        entry.customer_id = customer_id
        entry.identity_id = None
    addresses = [identity.address for identity in identities]
    for row in uow.session.exec(
        select(OutboxMessage).where(or_(OutboxMessage.customer_id == customer_id, OutboxMessage.address.in_(addresses)))
    ):
        row.address, row.messages, row.reply_token, row.fill = "erased", [], None, None
        if row.status == "pending":
            row.status, row.last_error = "cancelled", "erased"
    for booking in uow.session.exec(select(Booking).where(Booking.customer_id == customer_id)):
        booking.note = None  # what staff or a web shop wrote about them
        if booking.status in ("held", "booked") and booking.ends_at > now:  # nobody is coming: free the places
            booking.status = "released" if booking.status == "held" else "cancelled"
            booking.updated_at = now
            uow.session.execute(delete(BookingClaim).where(BookingClaim.booking_id == booking.id))
    uow.session.execute(delete(WebhookEvent).where(WebhookEvent.lane.in_(addresses)))  # what they wrote to us
    uow.session.execute(delete(EventLane).where(EventLane.key.in_(addresses)))
    for identity in identities:
        uow.session.delete(identity)  # the LINE user id is personal data too; a new follow starts afresh
    uow.session.flush()
    timeline.record(uow=uow, kind="erased", customer_id=customer_id, staff_user_id=staff_user_id)
    return customer
