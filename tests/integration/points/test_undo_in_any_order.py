"""Undoing till sales in any order leaves exactly what remains: never more, never below zero.

The issue's scenario: sale A ¥3,240 earns 32; sale B ¥1,000 is paid in part with 30 of them; then A is
cancelled, B's points payment is given back and B is cancelled, in every order. Both sales are gone,
so the customer keeps nothing of them.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from crm_core import customers, points, till
from crm_core.errors import AlreadyReversed
from crm_core.models import Purchase, Store

STEPS = ("cancel A", "give back B's points", "cancel B")


@pytest.fixture
def sales(uow_factory, services):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.commit()
        customer_id, store_id = customer.id, store.id
    zone = services.settings.zone
    common = {"uow_factory": uow_factory, "customer_id": customer_id, "store_id": store_id, "zone": zone}
    a = till.sell(staff_user_id=None, key="a" * 32, total=3240, **common)
    b = till.sell(staff_user_id=None, key="b" * 32, total=1000, points_to_spend=30, **common)
    assert (a.points_earned, b.points_spent) == (32, 30)
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 32 - 30 + b.points_earned
    return {"customer_id": customer_id, "store_id": store_id, "zone": zone, "a": a, "b": b}


def _do(uow_factory, sales, step: str) -> None:
    common = {
        "customer_id": sales["customer_id"],
        "store_id": sales["store_id"],
        "staff_user_id": None,
        "reason": step,
        "zone": sales["zone"],
    }
    with uow_factory() as uow:
        if step == "cancel A":
            till.undo_sale(uow=uow, purchase_id=sales["a"].purchase_id, **common)
        elif step == "cancel B":
            till.undo_sale(uow=uow, purchase_id=sales["b"].purchase_id, **common)
        else:
            today = till.todays_sales(uow=uow, **_where(sales))
            (sale,) = [s for s in today if s.purchase_id == sales["b"].purchase_id]
            if sale.spend_entry_id is None:  # already given back with the cancellation of B
                return
            till.give_back_points(uow=uow, entry_id=sale.spend_entry_id, **common)
        uow.commit()


def _where(sales) -> dict:
    return {"customer_id": sales["customer_id"], "store_id": sales["store_id"], "zone": sales["zone"]}


@pytest.mark.parametrize("order", list(permutations(STEPS)), ids=" / ".join)
def test_undoing_in_any_order_leaves_nothing_of_the_two_sales(uow_factory, sales, order):
    customer_id = sales["customer_id"]
    for step in order:
        _do(uow_factory, sales, step)
        with uow_factory() as uow:
            cached = points.balance_of(uow=uow, customer_id=customer_id)
            assert cached == points.ledger_balance(uow=uow, customer_id=customer_id) >= 0, step
            lots = sum(lot.remaining for lot in points.usable_lots(uow, customer_id, include_pending=True))
            assert lots == cached, step

    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 0
        for sale in (sales["a"], sales["b"]):
            purchase = uow.session.get(Purchase, sale.purchase_id)
            assert purchase.refunded_total == purchase.total
        assert all(s.undone and s.spend_entry_id is None for s in till.todays_sales(uow=uow, **_where(sales)))


def test_the_issues_order_reports_what_was_taken_back(uow_factory, sales):
    common = {
        "customer_id": sales["customer_id"],
        "store_id": sales["store_id"],
        "staff_user_id": None,
        "reason": "typo",
        "zone": sales["zone"],
    }
    with uow_factory() as uow:
        done = till.undo_sale(uow=uow, purchase_id=sales["a"].purchase_id, **common)
        uow.commit()
    # 32 earned by A: 2 of them are left, B's own points stand in for the rest as far as they go
    assert done.points_reversed + done.shortfall == 32
    assert done.points_balance == 0
    with uow_factory() as uow, pytest.raises(AlreadyReversed):
        till.undo_sale(uow=uow, purchase_id=sales["a"].purchase_id, **common)
