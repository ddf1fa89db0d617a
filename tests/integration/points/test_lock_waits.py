"""Two tills on one customer where one waits for the other's lock on the points account (PostgreSQL).

What the first till committed while the second waited must be what the second sees: the same
idempotency key is the first till's entry (not a second one), and the balance it adds to is the one
after the first till's change. On SQLite a unit of work takes the write lock with its first statement
(BEGIN IMMEDIATE), so a wait in the middle of a service cannot happen there.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from crm_core import customers, points, purchases
from crm_core.errors import InvalidInput, KizunaError
from crm_core.models import PointAccount, Purchase, Store
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="a lock wait in the middle of a service needs PostgreSQL")


@pytest.fixture
def customer_id(uow_factory):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        points.grant(uow=uow, customer_id=customer.id, amount=100, idempotency_key="welcome")
        uow.commit()
        return customer.id


def _while_locked(uow_factory, first, second):
    """Run `first(uow)` in a transaction (which takes its locks), then `second(uow)` in another one, which
    waits for a lock the first holds; commit the first, then the second. Returns both results (or the
    second's error)."""
    results = {}

    def other_till():
        with uow_factory() as uow:
            try:
                results["second"] = second(uow)
            except KizunaError as error:
                results["second"] = error
            uow.commit()

    with uow_factory() as holder:
        results["first"] = first(holder)
        waiting = threading.Thread(target=other_till)
        waiting.start()
        _wait_for_a_lock_wait(uow_factory)
        holder.commit()
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    return results["first"], results["second"]


def _wait_for_a_lock_wait(uow_factory, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    while True:
        with uow_factory() as uow:
            if uow.session.execute(query).scalar_one():
                return
        assert time.monotonic() < deadline, "the second till never waited for the lock"
        time.sleep(0.01)


def _balance(uow_factory, customer_id):
    with uow_factory() as uow:
        cached = points.balance_of(uow=uow, customer_id=customer_id)
        assert cached == points.ledger_balance(uow=uow, customer_id=customer_id)
        return cached


def _store(uow_factory):
    with uow_factory() as uow:
        store = Store(code="SHIBUYA", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.commit()
        return store.id


def _pay_with_points(uow_factory, customer_id, used):
    store_id = _store(uow_factory)
    with uow_factory() as uow:
        paid = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=store_id, total=used, points_used=used
        )
        uow.commit()
        return points.get_entry_by_key(uow=uow, idempotency_key=f"purchase-spend:{paid.purchase.id}").id


def _grant(uow, customer_id):
    return points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="k").id


def _spend(uow, customer_id):
    return points.spend(uow=uow, customer_id=customer_id, amount=30, idempotency_key="k").id


def _take_back(uow, customer_id):
    return points.take_back(uow=uow, customer_id=customer_id, amount=40, idempotency_key="k", from_entry_id=None).id


@pytest.mark.parametrize(
    ("call", "balance_after"), [(_grant, 110), (_spend, 70), (_take_back, 60)], ids=["grant", "spend", "take_back"]
)
def test_the_same_key_committed_while_waiting_for_the_lock_is_the_first_tills_entry(
    uow_factory, customer_id, call, balance_after
):
    def on(uow):
        return call(uow, customer_id)

    first, second = _while_locked(uow_factory, on, on)
    assert second == first
    assert _balance(uow_factory, customer_id) == balance_after


def test_the_same_return_committed_while_waiting_for_the_lock_gives_back_once(uow_factory, customer_id):
    spend_id = _pay_with_points(uow_factory, customer_id, 50)

    def give_back(uow):
        return points.return_spent(uow=uow, spend_entry_id=spend_id, amount=20, idempotency_key="k").id

    first, second = _while_locked(uow_factory, give_back, give_back)
    assert second == first
    assert _balance(uow_factory, customer_id) == 70


def test_a_balance_read_before_waiting_for_the_lock_is_not_written_back_stale(uow_factory, customer_id):
    def grant_ten(uow):
        return points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="till-1").id

    def look_then_grant_five(uow):
        shown = uow.session.get(PointAccount, customer_id)  # the account read (and held) before the grant
        seen = shown.balance
        points.grant(uow=uow, customer_id=customer_id, amount=5, idempotency_key="till-2")
        assert shown.balance == 115  # the lock refreshed it: not 100 + 5
        return seen

    _, seen = _while_locked(uow_factory, grant_ten, look_then_grant_five)
    assert seen == 100
    assert _balance(uow_factory, customer_id) == 115


def test_the_same_purchase_from_two_tills_at_once_is_recorded_once(uow_factory, customer_id):
    store_id = _store(uow_factory)
    sale = {"customer_id": customer_id, "store_id": store_id, "total": 3240, "external_id": "POS-1"}

    def first(uow):
        return purchases.record_purchase(uow=uow, **sale).purchase.id

    def second(_uow):  # loses the insert race on external_id, then answers like the winner
        return purchases.record_purchase_once(uow_factory=uow_factory, **sale)

    first_id, answer = _while_locked(uow_factory, first, second)
    assert (answer.purchase.id, answer.created, answer.points_earned) == (first_id, False, 32)
    assert _balance(uow_factory, customer_id) == 132


@pytest.mark.parametrize("same_refund", [True, False], ids=["the same refund", "another refund"])
def test_a_refund_waits_for_another_refund_of_the_same_purchase(uow_factory, customer_id, same_refund):
    store_id = _store(uow_factory)
    with uow_factory() as uow:
        purchase_id = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=store_id, total=1000
        ).purchase.id
        uow.commit()

    def refund(external_id):
        def run(uow):
            purchase = uow.session.get(Purchase, purchase_id)
            return purchases.refund_purchase(uow=uow, purchase=purchase, amount=1000, external_id=external_id)

        return run

    first, second = _while_locked(uow_factory, refund("R1"), refund("R1" if same_refund else "R2"))
    if same_refund:
        assert (second.refund.id, second.created) == (first.refund.id, False)
    else:
        assert isinstance(second, InvalidInput) and "At most 0 yen" in str(second)
    assert _balance(uow_factory, customer_id) == 100
