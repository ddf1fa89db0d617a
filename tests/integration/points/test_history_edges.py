"""What the customer's points history and balance show at the edges: nothing to refund or give back,
which lot returned points go to, when an expiry is dated, what "expiring soon" includes, an undo twice.

Each test here was written against a mutant that survived the points tests (issue 18) and fails with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from crm_core import customers, points, purchases
from crm_core.errors import AlreadyReversed, InvalidInput
from crm_core.models import PointEntry, PointLot, Store
from tests.integration.points.steps import pay_with_points, spend


def _grant(uow_factory, customer_id, amount, key):
    with uow_factory() as uow:
        entry = points.grant(uow=uow, customer_id=customer_id, amount=amount, idempotency_key=key)
        uow.commit()
        lot = uow.session.exec(select(PointLot).where(PointLot.entry_id == entry.id)).one()
        return entry, lot.expires_at


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite gives back naive UTC


def _history(uow_factory, customer_id):
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == points.ledger_balance(
            uow=uow, customer_id=customer_id
        )
        return [(entry.kind, entry.amount) for entry in points.entries_of(uow=uow, customer_id=customer_id, limit=50)]


def test_a_refund_after_every_point_was_used_adds_no_empty_line_to_the_history(uow_factory, customer_id):
    earned, _ = _grant(uow_factory, customer_id, 10, "purchase")
    spend(uow_factory, customer_id, 10, "spend")
    with uow_factory() as uow:
        taken = points.take_back(
            uow=uow, customer_id=customer_id, amount=10, idempotency_key="refund", from_entry_id=earned.id
        )
        uow.commit()
        assert taken is None
        own = uow.session.exec(select(PointLot).where(PointLot.entry_id == earned.id)).one()
        assert own.owed == 10  # settled when used points come back
    assert _history(uow_factory, customer_id) == [("spend", -10), ("grant", 10)]


def test_giving_back_a_purchases_points_already_given_back_adds_nothing(uow_factory, customer_id):
    _grant(uow_factory, customer_id, 10, "g")
    spent = pay_with_points(uow_factory, customer_id, 6)
    with uow_factory() as uow:
        first = points.return_spent(uow=uow, spend_entry_id=spent.id, amount=6, idempotency_key="back-1")
        again = points.return_spent(uow=uow, spend_entry_id=spent.id, amount=6, idempotency_key="back-2")
        uow.commit()
        assert (first.amount, again) == (6, None)
    assert _history(uow_factory, customer_id) == [("return", 6), ("spend", -6), ("grant", 10)]


def test_a_spend_without_a_purchase_is_undone_whole_not_given_back_in_part(uow_factory, customer_id):
    _grant(uow_factory, customer_id, 10, "g")
    spent = spend(uow_factory, customer_id, 6, "s")
    with uow_factory() as uow, pytest.raises(InvalidInput):
        points.return_spent(uow=uow, spend_entry_id=spent.id, amount=6, idempotency_key="back")
    assert _history(uow_factory, customer_id) == [("spend", -6), ("grant", 10)]


def test_points_given_back_go_to_the_lot_used_last(uow_factory, customer_id, clock):
    _, soon = _grant(uow_factory, customer_id, 10, "early")
    clock.advance(days=30)
    _, later = _grant(uow_factory, customer_id, 10, "late")
    spent = pay_with_points(uow_factory, customer_id, 15)  # 10 from the early lot, then 5 from the late one
    with uow_factory() as uow:
        points.return_spent(uow=uow, spend_entry_id=spent.id, amount=5, idempotency_key="back")
        uow.commit()
        assert points.details(uow=uow, customer_id=customer_id, horizon=timedelta(days=400)).expiring == [(later, 10)]
    assert soon < later


def test_expiring_soon_includes_points_expiring_exactly_at_the_horizon(uow_factory, customer_id, clock):
    _, expires_at = _grant(uow_factory, customer_id, 10, "g")
    clock.set(expires_at - timedelta(days=60, microseconds=1))
    with uow_factory() as uow:
        assert points.details(uow=uow, customer_id=customer_id).expiring == []
    clock.set(expires_at - timedelta(days=60))
    with uow_factory() as uow:
        assert points.details(uow=uow, customer_id=customer_id).expiring == [(expires_at, 10)]


def test_an_expiry_is_dated_at_the_expiry_instant_even_when_the_job_runs_late(uow_factory, customer_id, clock):
    _, expires_at = _grant(uow_factory, customer_id, 10, "g")
    clock.set(expires_at + timedelta(hours=3))  # the nightly job ran at 03:00 in Tokyo
    with uow_factory() as uow:
        assert points.expire_due(uow=uow) == 10
        uow.commit()
    with uow_factory() as uow:
        expired = uow.session.exec(select(PointEntry).where(PointEntry.kind == "expire")).one()
        assert _utc(expired.occurred_at) == _utc(expires_at)
        assert _utc(expired.created_at) == clock.now()


def test_undoing_a_grant_twice_says_it_was_already_undone(uow_factory, customer_id):
    granted, _ = _grant(uow_factory, customer_id, 10, "g")
    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=granted.id, idempotency_key="undo-1", reason="mistake")
        uow.commit()
    with uow_factory() as uow, pytest.raises(AlreadyReversed):
        points.reverse(uow=uow, entry_id=granted.id, idempotency_key="undo-2", reason="mistake again")
    assert _history(uow_factory, customer_id) == [("reverse", -10), ("grant", 10)]


def test_balances_of_several_customers_count_zero_for_one_who_never_had_points(uow_factory, customer_id):
    with uow_factory() as uow:
        newcomer = customers.create_customer(uow=uow, name="佐藤 一郎").id
        uow.commit()
    _grant(uow_factory, customer_id, 7, "g")
    with uow_factory() as uow:
        assert points.balances_of(uow=uow, customer_ids=[newcomer, customer_id]) == {newcomer: 0, customer_id: 7}


def test_points_coming_back_to_a_refunded_purchases_lot_settle_that_lots_own_debt_first(
    uow_factory, customer_id, clock
):
    """Two purchases refunded after their points were spent owe them; the spend's refund gives points back to
    both lots in turns: what comes back to a lot pays its own debt first, so the right points are left."""
    with uow_factory() as uow:
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.commit()
        store_id = store.id

    def buy(total, used=0):
        with uow_factory() as uow:
            result = purchases.record_purchase(
                uow=uow, customer_id=customer_id, store_id=store_id, total=total, points_used=used
            )
            uow.commit()
            return result.purchase.id

    def refund(purchase_id, amount, key):
        with uow_factory() as uow:
            purchase = uow.session.get(purchases.Purchase, purchase_id)
            purchases.refund_purchase(uow=uow, purchase=purchase, amount=amount, external_id=key)
            uow.commit()

    first = buy(1000)  # 10 points, expiring first
    clock.advance(days=1)
    second = buy(1000)  # 10 points, expiring a day later
    clock.advance(days=1)
    _grant(uow_factory, customer_id, 10, "welcome")
    paid = buy(30, used=30)  # every point: 10 from each lot, soonest first
    refund(first, 1000, "R1")  # its 10 points were spent: the first lot owes them
    refund(second, 1000, "R2")  # the second lot owes 10 too
    refund(paid, 15, "R3")  # 15 points back, to the welcome lot and the second: they pay the second's debt
    refund(paid, 15, "R4")  # 15 back, to the second lot and the first: 5 pay the first's debt, from its own
    with uow_factory() as uow:
        lots = sorted(uow.session.exec(select(PointLot)), key=lambda lot: lot.expires_at)
        assert [(lot.remaining, lot.owed) for lot in lots] == [(5, 0), (5, 0), (0, 0)]
        detail = points.details(uow=uow, customer_id=customer_id, horizon=timedelta(days=400))
        assert detail.expiring == [(lots[0].expires_at, 5), (lots[1].expires_at, 5)]
