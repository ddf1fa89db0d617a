"""Stores: create or update by code, close and reopen, list, look up by code.

A closed store keeps its purchases and history and still accepts late uploads from its POS, but the
till no longer offers it.
"""

from __future__ import annotations

from sqlmodel import select

from crm_core import contacts
from crm_core.errors import N_, InvalidInput, NotFound
from crm_core.hours import BusinessHours
from crm_core.models import Store
from crm_core.uow import UnitOfWork

NAME_LENGTH, ADDRESS_LENGTH = 200, 300


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()  # upsert_store: keep what an existing store has (a new one gets the default)


def list_stores(*, uow: UnitOfWork, include_closed: bool = True) -> list[Store]:
    """The stores by code; without the closed ones when `include_closed` is False (the till)."""
    query = select(Store).order_by(Store.code)
    if not include_closed:
        query = query.where(Store.active.is_(True))
    return list(uow.session.exec(query))


def get_store_by_code(*, uow: UnitOfWork, code: str | None) -> Store | None:
    """The store with this code as people type it (`shibuya` finds SHIBUYA), or None."""
    try:
        code = contacts.normalize_store_code(code)
    except InvalidInput:
        return None
    return uow.session.exec(select(Store).where(Store.code == code)).first()


def check_store(*, uow: UnitOfWork, code: str | None) -> Store:
    """The store with this code, open or closed; InvalidInput for a malformed code, NotFound for an unknown one."""
    normalized = contacts.normalize_store_code(code)
    store = uow.session.exec(select(Store).where(Store.code == normalized)).first()
    if store is None:
        raise NotFound(N_("No store with the code %(code)s."), code=normalized)
    return store


def _checked(field: str, check, value):
    """Run one contacts check; its InvalidInput gets a `field` param so a form can show it beside the field."""
    try:
        return check(value)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=field, **error.params) from None


def _name(text: str | None) -> str:
    name = " ".join((text or "").split())
    if not name:
        raise InvalidInput(N_("A store needs a name."), field="name")
    if len(name) > NAME_LENGTH:
        raise InvalidInput(N_("A store name has at most 200 characters."), field="name")
    return name


def _address(text: str | None) -> str | None:
    address = " ".join((text or "").split())
    if len(address) > ADDRESS_LENGTH:
        raise InvalidInput(N_("An address has at most 300 characters."), field="address")
    return address or None


def upsert_store(
    *,
    uow: UnitOfWork,
    code: str,
    name: str,
    address: str | None | _Unchanged = UNCHANGED,
    phone: str | None | _Unchanged = UNCHANGED,
    business_hours: BusinessHours | None | _Unchanged = UNCHANGED,
    active: bool | _Unchanged = UNCHANGED,
) -> tuple[Store, bool]:
    """Create the store with this code, or update it; returns (store, created).

    Fields left UNCHANGED keep what the store has (a new store: no address or phone, the shop's
    business hours, open). `business_hours` None means the shop's hours. Nothing is written when a
    value is refused: InvalidInput's `field` param names the field.
    """
    code = _checked("code", contacts.normalize_store_code, code)
    name = _name(name)
    values: dict = {"name": name}
    if not isinstance(address, _Unchanged):
        values["address"] = _address(address)
    if not isinstance(phone, _Unchanged):
        values["phone"] = _checked("phone", contacts.normalize_phone, phone)
    if not isinstance(business_hours, _Unchanged):
        values["business_hours"] = None if business_hours is None else business_hours.as_json()
    if not isinstance(active, _Unchanged):
        values["active"] = bool(active)
    now = uow.now()
    store = uow.session.exec(select(Store).where(Store.code == code)).first()
    created = store is None
    if created:
        store = Store(code=code, created_at=now, **values)
        uow.session.add(store)
    else:
        for key, value in values.items():
            setattr(store, key, value)
    store.updated_at = now
    uow.session.flush()  # a store created at the same moment elsewhere fails here (unique code)
    return store, created


def _set_active(uow: UnitOfWork, code: str, active: bool) -> Store:
    store = check_store(uow=uow, code=code)
    if store.active != active:
        store.active = active
        store.updated_at = uow.now()
    return store


def close_store(*, uow: UnitOfWork, code: str) -> Store:
    """Stop offering the store at the till; its purchases and history stay."""
    return _set_active(uow, code, False)


def reopen_store(*, uow: UnitOfWork, code: str) -> Store:
    return _set_active(uow, code, True)
