"""Fixtures shared by the points tests."""

from __future__ import annotations

import pytest

from crm_core import customers


@pytest.fixture
def customer_id(uow_factory):
    """A customer with no points yet."""
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        uow.commit()
        return customer.id
