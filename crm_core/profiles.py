"""A customer's profile as the shop asks for it: name, フリガナ, birthday, phone, e-mail, home store.

The customer fills it in on the page opened from LINE; staff see and change the same fields on the
console. Both check the form here, with the one normalization of crm_core.contacts, and write it here,
so the search key, the birthday's month and day and the timeline stay in step whoever changed it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date

from sqlmodel import select

from crm_core import contacts, timeline
from crm_core.customers import write_search_key
from crm_core.errors import N_, InvalidFields, InvalidInput
from crm_core.models import Customer, Store
from crm_core.uow import UnitOfWork

# the form's fields, in the order the pages show them
FIELDS = ("name", "name_kana", "birthday", "phone", "email", "home_store")
CUSTOMER_FIELDS = ("name", "name_kana", "birthday", "phone", "home_store")  # what the LINE page asks for
LEAP_YEAR = 2000  # a month and day without a year are checked against a leap year: 2/29 is a birthday
MAX_NAME = 200


def stores_to_choose(*, uow: UnitOfWork, current_id: int | None = None) -> list[Store]:
    """The stores a customer can call home: the open ones, and the one they already have even if it closed."""
    query = select(Store).where((Store.active.is_(True)) | (Store.id == (current_id or 0))).order_by(Store.code)
    return list(uow.session.exec(query))


def form_values(customer: Customer) -> dict[str, str]:
    """The customer's profile as the form shows it (text, as a person would type it)."""
    return {
        "name": customer.name or "",
        "name_kana": customer.name_kana or "",
        "birth_year": str(customer.birth_date.year) if customer.birth_date else "",
        "birth_month": str(customer.birth_month or ""),
        "birth_day": str(customer.birth_day or ""),
        "phone": customer.phone or "",
        "email": customer.email or "",
        "home_store": str(customer.home_store_id or ""),
    }


def _number(text: str) -> int | None:
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        raise ValueError(text)
    return int(text)


def _birthday(form: Mapping[str, str], today: date) -> tuple[int | None, int | None, date | None]:
    """(month, day, full date when the year is given); InvalidInput when they name no day."""
    try:
        year, month, day = (_number(form.get(key, "")) for key in ("birth_year", "birth_month", "birth_day"))
    except ValueError:
        raise InvalidInput(N_("Write the birthday in numbers, for example 4 and 12.")) from None
    if month is None and day is None:
        if year is not None:
            raise InvalidInput(N_("Enter the month and the day of the birthday too."))
        return None, None, None
    if month is None or day is None:
        raise InvalidInput(N_("Enter both the month and the day of the birthday."))
    try:
        date(LEAP_YEAR, month, day)
        full = date(year, month, day) if year is not None else None
    except ValueError:
        raise InvalidInput(N_("There is no such day in the calendar.")) from None
    if full is not None and (full.year < 1900 or full > today):
        raise InvalidInput(N_("Enter a year of birth from 1900 to this year, for example 1990."))
    return month, day, full


def check_profile(
    *, uow: UnitOfWork, customer: Customer, form: Mapping[str, str], fields: tuple[str, ...], required=("name",)
) -> dict:
    """The form's `fields`, checked and normalized, as the columns they write; InvalidFields names each wrong one.

    `required` fields must not be left empty (a name always; the LINE page asks for the フリガナ too).
    """
    values: dict = {}
    errors: dict[str, InvalidInput] = {}

    def check(field: str, parse) -> None:
        if field not in fields:
            return
        try:
            values.update(parse())
        except InvalidInput as error:
            errors[field] = error

    def name() -> dict:
        text = unicodedata.normalize("NFKC", form.get("name", "")).strip()
        if not text:
            raise InvalidInput(N_("A name is required."))
        if len(text) > MAX_NAME:
            raise InvalidInput(N_("A name has at most %(max)d characters."), max=MAX_NAME)
        return {"name": text}

    def kana() -> dict:
        text = contacts.normalize_kana(form.get("name_kana", ""))
        if text is None and "name_kana" in required:
            raise InvalidInput(N_("Enter the reading (furigana) of the name."))
        if text is not None and len(text) > MAX_NAME:
            raise InvalidInput(N_("A name has at most %(max)d characters."), max=MAX_NAME)
        return {"name_kana": text}

    def birthday() -> dict:
        month, day, full = _birthday(form, uow.now().date())
        return {"birth_month": month, "birth_day": day, "birth_date": full}

    def home_store() -> dict:
        chosen = (form.get("home_store") or "").strip()
        if not chosen:
            return {"home_store_id": None}
        allowed = {str(store.id): store.id for store in stores_to_choose(uow=uow, current_id=customer.home_store_id)}
        if chosen not in allowed:
            raise InvalidInput(N_("Choose one of the stores in the list."))
        return {"home_store_id": allowed[chosen]}

    check("name", name)
    check("name_kana", kana)
    check("birthday", birthday)
    check("phone", lambda: {"phone": contacts.normalize_phone(form.get("phone"))})
    check("email", lambda: {"email": contacts.normalize_email(form.get("email"))})
    check("home_store", home_store)
    if errors:
        raise InvalidFields(errors)
    return values


def _field_of(column: str) -> str:
    return "birthday" if column.startswith("birth_") else "home_store" if column == "home_store_id" else column


def update_profile(
    *, uow: UnitOfWork, customer: Customer, values: dict, via: str, staff_user_id: int | None = None
) -> list[str]:
    """Write checked values (from check_profile); the fields that changed, also on the timeline (names, not values)."""
    changed = [column for column, value in values.items() if getattr(customer, column) != value]
    if not changed:
        return []
    for column in changed:  # birth_date is None when only the month and day are given
        setattr(customer, column, values[column])
    write_search_key(customer)
    customer.updated_at = uow.now()
    fields = [field for field in FIELDS if field in {_field_of(column) for column in changed}]
    timeline.record(
        uow=uow,
        kind="profile_changed",
        customer_id=customer.id,
        staff_user_id=staff_user_id,
        data={"fields": fields, "via": via},
    )
    return fields


def mark_profile_asked(*, uow: UnitOfWork, customer: Customer) -> None:
    """Remember when the profile page was first offered (the shop sees who was asked and never answered)."""
    if customer.profile_asked_at is None:
        customer.profile_asked_at = uow.now()
