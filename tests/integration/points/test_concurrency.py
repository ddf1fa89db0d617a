"""Many tills and the API hitting one customer at once: real threads, real transactions.

On PostgreSQL (KIZUNA_TEST_DATABASE_URL) the threads really overlap; on SQLite they queue on the
write lock. Either way the ledger must come out exact.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import points, purchases
from crm_core.errors import InsufficientPoints, InvalidInput
from crm_core.models import PointEntry, Purchase
from tests.threads import together


def test_the_same_purchase_posted_fifty_times_at_once_grants_once(uow_factory, shop):
    customer_id, store_id = shop
    results = together(
        50,
        lambda n: purchases.record_purchase_once(
            uow_factory=uow_factory, customer_id=customer_id, store_id=store_id, total=3240, external_id="POS-1"
        ),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert {r.purchase.id for r in results} == {results[0].purchase.id}
    assert {(r.points_earned, r.points_balance) for r in results} == {(32, 32)}
    with uow_factory() as uow:
        assert uow.session.exec(select(func.count()).select_from(Purchase)).one() == 1
        assert uow.session.exec(select(func.count()).select_from(PointEntry)).one() == 1
        assert points.balance_of(uow=uow, customer_id=customer_id) == 32


def test_twenty_concurrent_spends_never_overdraw(uow_factory, shop):
    customer_id, _ = shop
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=100, idempotency_key="g")
        uow.commit()

    def spend(n):
        with uow_factory() as uow:
            entry = points.spend(uow=uow, customer_id=customer_id, amount=15, idempotency_key=f"till-{n}")
            uow.commit()
            return entry.id

    results = together(20, spend)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(succeeded) == 6 and len(refused) == 14  # 6 x 15 = 90 of 100
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 10
        assert points.ledger_balance(uow=uow, customer_id=customer_id) == 10


def test_the_same_spend_retried_at_once_spends_once(uow_factory, shop):
    customer_id, _ = shop
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=100, idempotency_key="g")
        uow.commit()

    def spend(_n):
        for attempt in (1, 2):
            with uow_factory() as uow:
                try:
                    entry = points.spend(uow=uow, customer_id=customer_id, amount=30, idempotency_key="pay-1")
                    uow.commit()
                    return entry.id
                except Exception:
                    if attempt == 2:
                        raise

    results = together(10, spend)
    assert len({r for r in results if isinstance(r, int)}) == 1, results
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 70


@pytest.mark.parametrize("same_external_id", [True, False], ids=["same refund", "two refunds"])
def test_two_refunds_of_one_purchase_at_once_give_back_once(uow_factory, shop, same_external_id):
    customer_id, store_id = shop
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=500, idempotency_key="welcome")
        result = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=store_id, total=3240, points_used=300, external_id="POS-1"
        )
        uow.commit()
        purchase_id = result.purchase.id
    assert result.points_earned == 29

    def refund(n):
        for attempt in (1, 2):  # the loser of the unique external_id answers like the winner on its retry
            with uow_factory() as uow:
                try:
                    purchase = uow.session.get(Purchase, purchase_id)
                    external_id = "R-1" if same_external_id else f"R-{n}"
                    done = purchases.refund_purchase(uow=uow, purchase=purchase, amount=3240, external_id=external_id)
                    uow.commit()
                    return done.points_returned, done.points_reversed
                except IntegrityError:
                    if attempt == 2:
                        raise

    results = together(6, refund)

    done = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, InvalidInput)]
    assert set(done) == {(300, 29)}
    assert len(done) == (6 if same_external_id else 1) and len(refused) == 6 - len(done)
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 500
        assert points.ledger_balance(uow=uow, customer_id=customer_id) == 500
        assert uow.session.get(Purchase, purchase_id).refunded_total == 3240


@pytest.mark.parametrize("kind", ["grant", "spend"])
def test_the_same_key_at_once_without_retrying_is_one_entry_for_everyone(uow_factory, shop, kind):
    """The losers find the winner's entry after waiting for the account lock, not an error."""
    customer_id, _ = shop
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=100, idempotency_key="welcome")
        uow.commit()
    change = getattr(points, kind)

    def once(_n):
        with uow_factory() as uow:
            entry = change(uow=uow, customer_id=customer_id, amount=30, idempotency_key="pos-7")
            uow.commit()
            return entry.id

    results = together(8, once)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(set(results)) == 1
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == (130 if kind == "grant" else 70)
        assert points.ledger_balance(uow=uow, customer_id=customer_id) == points.balance_of(
            uow=uow, customer_id=customer_id
        )


def test_partial_refunds_of_one_purchase_at_once_never_refund_more_than_its_total(uow_factory, shop):
    customer_id, store_id = shop
    with uow_factory() as uow:
        purchase_id = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=store_id, total=3240, external_id="POS-1"
        ).purchase.id
        uow.commit()

    def refund(n):
        with uow_factory() as uow:
            purchase = uow.session.get(Purchase, purchase_id)
            done = purchases.refund_purchase(uow=uow, purchase=purchase, amount=1000, external_id=f"R-{n}")
            uow.commit()
            return done.refund.amount

    results = together(6, refund)
    assert results.count(1000) == 3
    assert [type(r) for r in results if r != 1000] == [InvalidInput] * 3
    with uow_factory() as uow:
        assert uow.session.get(Purchase, purchase_id).refunded_total == 3000
        assert (
            points.balance_of(uow=uow, customer_id=customer_id)
            == 32 - 30
            == points.ledger_balance(uow=uow, customer_id=customer_id)
        )
