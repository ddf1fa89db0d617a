"""Points coming back (an undo, a return) settle what refunds still owe: the same customer's debts only.

The points tests caught the debts query turned to every customer but this one (issue 18's mutant), not
the customer filter dropped: then one customer's undo paid another's refund.
"""

from __future__ import annotations

from sqlmodel import select

from crm_core import customers, points
from crm_core.models import PointLot
from tests.integration.points.steps import grant, spend, take_back


def _total(uow_factory, customer_id) -> int:
    with uow_factory() as uow:
        detail = points.details(uow=uow, customer_id=customer_id)
        assert detail.total == points.ledger_balance(uow=uow, customer_id=customer_id)
        return detail.total


def test_points_coming_back_to_one_customer_never_settle_another_customers_debt(uow_factory, customer_id):
    with uow_factory() as uow:
        other = customers.create_customer(uow=uow, name="佐藤 一郎").id
        uow.commit()
    earned = grant(uow_factory, other, 30, "other-purchase")
    spend(uow_factory, other, 30, "other-spend")
    assert take_back(uow_factory, other, 30, "other-refund", earned.id) is None  # all used: 30 owed
    grant(uow_factory, customer_id, 50, "g")
    spent = spend(uow_factory, customer_id, 20, "s")

    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        uow.commit()

    assert _total(uow_factory, customer_id) == 50  # all 20 came back to her
    with uow_factory() as uow:
        owed = uow.session.exec(select(PointLot.owed).where(PointLot.entry_id == earned.id)).one()
    assert owed == 30  # still owed by him, settled only by his own points coming back
