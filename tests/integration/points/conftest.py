"""Fixtures shared by the points tests."""

from __future__ import annotations

import pytest

from crm_core import customers
from crm_core.models import Store


@pytest.fixture
def customer_id(uow_factory):
    """A customer with no points yet."""
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        uow.commit()
        return customer.id


@pytest.fixture
def shop(uow_factory):
    """(customer id, store id): a member with no points yet and a store to buy in."""
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.commit()
        return customer.id, store.id
