"""The ledger's edges: a till retrying the same request, a single point, a refund while points are
pending, which lot a refund takes from, and what is owed or expires when points come back.

Each test here was written against a mutant of `crm_core/points/ledger.py` that survived the points
tests (issue 18) and fails with it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from crm_core import customers, points, purchases
from crm_core.clock import as_utc
from crm_core.errors import AlreadyReversed, InvalidInput
from crm_core.loyalty import Program, save_program
from crm_core.models import PointEntry, PointLot, Purchase
from tests.integration.points.steps import grant, pay_with_points, spend, take_back


def _detail(uow_factory, customer_id):
    """What the customer sees; the cached balance, the ledger and the lots must all agree."""
    with uow_factory() as uow:
        detail = points.details(uow=uow, customer_id=customer_id)
        assert detail.total == points.ledger_balance(uow=uow, customer_id=customer_id)
        assert detail.total == detail.available + detail.pending
        return detail


def _history(uow_factory, customer_id):
    with uow_factory() as uow:
        return [(entry.kind, entry.amount) for entry in points.entries_of(uow=uow, customer_id=customer_id, limit=50)]


def test_a_single_point_is_taken_from_a_lot(uow_factory, customer_id):
    grant(uow_factory, customer_id, 10, "g")
    spend(uow_factory, customer_id, 1, "s")
    detail = _detail(uow_factory, customer_id)
    assert (detail.total, detail.available, [amount for _at, amount in detail.expiring]) == (9, 9, [])
    with uow_factory() as uow:
        (lot,) = points.usable_lots(uow, customer_id)
        assert lot.remaining == 9


@pytest.mark.parametrize("kind", ["spend", "take_back"])
def test_the_till_retrying_the_same_request_takes_the_points_once(uow_factory, customer_id, kind):
    earned = grant(uow_factory, customer_id, 50, "g")
    if kind == "spend":
        first, again = (spend(uow_factory, customer_id, 20, "till-1") for _ in range(2))
    else:
        first, again = (take_back(uow_factory, customer_id, 20, "refund-1", earned.id) for _ in range(2))
    assert again.id == first.id
    assert _detail(uow_factory, customer_id).total == 30
    assert len(_history(uow_factory, customer_id)) == 2


def test_giving_back_the_same_return_twice_gives_once(uow_factory, customer_id):
    grant(uow_factory, customer_id, 50, "g")
    spent = pay_with_points(uow_factory, customer_id, 30)
    answers = []
    for _ in range(2):
        with uow_factory() as uow:
            answers.append(
                points.return_spent(uow=uow, spend_entry_id=spent.id, amount=10, idempotency_key="return-1").id
            )
            uow.commit()
    assert answers[0] == answers[1]
    assert _detail(uow_factory, customer_id).total == 30


def test_undoing_with_the_same_key_again_answers_the_first_undo(uow_factory, customer_id):
    earned = grant(uow_factory, customer_id, 50, "g")
    answers = []
    for _ in range(2):
        with uow_factory() as uow:
            answers.append(points.reverse(uow=uow, entry_id=earned.id, idempotency_key="undo-1", reason="mistake").id)
            uow.commit()
    assert answers[0] == answers[1]
    assert _detail(uow_factory, customer_id).total == 0


def test_a_refund_takes_back_points_that_are_still_pending(uow_factory, customer_id):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(pending_days=14))
        uow.commit()
    earned = grant(uow_factory, customer_id, 10, "purchase")
    taken = take_back(uow_factory, customer_id, 10, "refund", earned.id)
    assert taken.amount == -10
    detail = _detail(uow_factory, customer_id)
    assert (detail.total, detail.pending) == (0, 0)


def test_a_refund_takes_the_purchases_own_points_before_older_ones(uow_factory, customer_id, clock):
    grant(uow_factory, customer_id, 10, "older")
    clock.advance(days=30)  # the purchase's points expire 30 days after the older ones
    earned = grant(uow_factory, customer_id, 10, "purchase")
    with uow_factory() as uow:
        older_expiry = next(lot.expires_at for lot in points.usable_lots(uow, customer_id) if lot.entry_id != earned.id)
    take_back(uow_factory, customer_id, 10, "refund", earned.id)
    detail = _detail(uow_factory, customer_id)
    assert detail.total == 10
    with uow_factory() as uow:
        (lot,) = points.usable_lots(uow, customer_id)
        assert (lot.entry_id != earned.id, lot.expires_at) == (True, older_expiry)


def test_a_partial_refund_of_used_points_owes_only_what_it_could_not_take(uow_factory, customer_id):
    earned = grant(uow_factory, customer_id, 10, "purchase")
    spent = spend(uow_factory, customer_id, 8, "spend")
    taken = take_back(uow_factory, customer_id, 5, "refund", earned.id)  # half the purchase refunded
    assert taken.amount == -2
    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert _detail(uow_factory, customer_id).total == 5  # the 8 come back, 3 settle the refund


def test_a_refund_worth_a_single_point_takes_it_back(uow_factory, customer_id):
    earned = grant(uow_factory, customer_id, 10, "purchase")
    taken = take_back(uow_factory, customer_id, 1, "refund", earned.id)
    assert taken is not None and taken.amount == -1
    assert _history(uow_factory, customer_id) == [("refund", -1), ("grant", 10)]
    assert _detail(uow_factory, customer_id).total == 9


def test_a_refund_owing_a_single_point_is_settled_when_points_come_back(uow_factory, customer_id):
    earned = grant(uow_factory, customer_id, 10, "purchase")
    spent = spend(uow_factory, customer_id, 9, "spend")
    assert take_back(uow_factory, customer_id, 2, "refund", earned.id).amount == -1  # 1 point owed
    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert _detail(uow_factory, customer_id).total == 8


def test_points_coming_back_to_an_expired_lot_settle_its_debt_and_the_rest_expires(uow_factory, customer_id, clock):
    earned = grant(uow_factory, customer_id, 10, "purchase")
    spent = spend(uow_factory, customer_id, 10, "spend")
    assert take_back(uow_factory, customer_id, 4, "refund", earned.id) is None  # 4 points owed
    with uow_factory() as uow:
        (expires_at,) = uow.session.exec(select(PointLot.expires_at).where(PointLot.entry_id == earned.id)).all()
    clock.set(as_utc(expires_at) + timedelta(days=1))
    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert _history(uow_factory, customer_id)[:3] == [("expire", -6), ("refund", -4), ("reverse", 10)]
    assert _detail(uow_factory, customer_id).total == 0


def test_a_spend_of_a_single_point_can_be_undone(uow_factory, customer_id):
    grant(uow_factory, customer_id, 10, "g")
    spent = spend(uow_factory, customer_id, 1, "s")
    with uow_factory() as uow:
        undo = points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert undo.amount == 1
    assert _detail(uow_factory, customer_id).total == 10


def test_a_grant_of_a_single_point_can_be_undone(uow_factory, customer_id):
    earned = grant(uow_factory, customer_id, 1, "g")
    with uow_factory() as uow:
        undo = points.reverse(uow=uow, entry_id=earned.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert undo.amount == -1
    assert _detail(uow_factory, customer_id).total == 0


def test_an_expiry_or_a_refund_cannot_be_undone(uow_factory, customer_id, clock):
    earned = grant(uow_factory, customer_id, 10, "purchase")
    refunded = take_back(uow_factory, customer_id, 4, "refund", earned.id)
    clock.advance(days=400)
    with uow_factory() as uow:
        points.expire_due(uow=uow)
        uow.commit()
        expiry = uow.session.exec(select(PointEntry).where(PointEntry.kind == "expire")).one()
    for entry in (refunded, expiry):
        with uow_factory() as uow, pytest.raises(InvalidInput, match="cannot be undone"):
            points.reverse(uow=uow, entry_id=entry.id, idempotency_key=f"undo-{entry.id}", reason="mistake")
    assert _detail(uow_factory, customer_id).total == 0


def test_an_undo_or_a_return_of_points_cannot_itself_be_undone(uow_factory, customer_id):
    grant(uow_factory, customer_id, 10, "g")
    spent = spend(uow_factory, customer_id, 4, "s")
    paid = pay_with_points(uow_factory, customer_id, 3)
    with uow_factory() as uow:
        undone = points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        returned = points.return_spent(uow=uow, spend_entry_id=paid.id, amount=3, idempotency_key="back")
        uow.commit()
    for entry in (undone, returned):
        with uow_factory() as uow, pytest.raises(InvalidInput, match="cannot be undone"):
            points.reverse(uow=uow, entry_id=entry.id, idempotency_key=f"undo-{entry.id}", reason="mistake")
    assert _detail(uow_factory, customer_id).total == 10


def test_a_manual_correction_of_minus_one_point_can_be_undone(uow_factory, customer_id):
    grant(uow_factory, customer_id, 10, "g")
    with uow_factory() as uow:
        corrected = points.adjust(
            uow=uow,
            customer_id=customer_id,
            amount=-1,
            reason="counted twice",
            idempotency_key="adj",
            staff_user_id=None,
        )
        uow.commit()
    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=corrected.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert _detail(uow_factory, customer_id).total == 10


def test_the_expiry_job_looks_only_at_customers_with_points_left_to_expire(uow_factory, customer_id, clock):
    grant(uow_factory, customer_id, 10, "used-up")
    spend(uow_factory, customer_id, 10, "all")  # this customer's lot is empty: nothing of it expires
    with uow_factory() as uow:
        other = customers.create_customer(uow=uow, name="佐藤 次郎").id
        uow.commit()
    grant(uow_factory, other, 1, "one-point")
    clock.advance(days=400)
    with uow_factory() as uow:
        assert points.expire_due(uow=uow, limit=1) == 1  # one customer per run: the one with a point left
        uow.commit()
    assert _detail(uow_factory, other).total == 0


@pytest.mark.parametrize("amount", [1, -1])
def test_a_manual_correction_of_one_point_either_way_is_accepted(uow_factory, customer_id, amount):
    grant(uow_factory, customer_id, 10, "g")
    with uow_factory() as uow:
        corrected = points.adjust(
            uow=uow, customer_id=customer_id, amount=amount, reason="recount", idempotency_key="adj", staff_user_id=None
        )
        uow.commit()
    assert (corrected.kind, corrected.amount) == ("adjust", amount)
    assert _detail(uow_factory, customer_id).total == 10 + amount


@pytest.mark.parametrize("amount", [0, 1.5, None])
def test_a_manual_correction_of_zero_or_a_fraction_is_refused(uow_factory, customer_id, amount):
    with uow_factory() as uow, pytest.raises(InvalidInput, match="other than zero"):
        points.adjust(
            uow=uow, customer_id=customer_id, amount=amount, reason="recount", idempotency_key="adj", staff_user_id=None
        )


def test_an_expiry_shows_only_the_points_left_not_a_line_for_a_used_up_lot(uow_factory, customer_id, clock):
    grant(uow_factory, customer_id, 10, "first")
    grant(uow_factory, customer_id, 5, "second")
    spend(uow_factory, customer_id, 10, "all-of-the-first")
    clock.advance(days=400)
    with uow_factory() as uow:
        assert points.expire_due(uow=uow) == 5
        uow.commit()
    assert _history(uow_factory, customer_id) == [("expire", -5), ("spend", -10), ("grant", 5), ("grant", 10)]


@pytest.mark.parametrize(("owed", "history"), [(10, [("refund", -10)]), (9, [("expire", -1), ("refund", -9)])])
def test_points_coming_back_to_an_expired_lot_after_its_debt_expire_and_nothing_else(
    uow_factory, customer_id, clock, owed, history
):
    earned = grant(uow_factory, customer_id, 10, "purchase")
    spent = spend(uow_factory, customer_id, 10, "spend")
    assert take_back(uow_factory, customer_id, owed, "refund", earned.id) is None
    clock.advance(days=400)
    with uow_factory() as uow:
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
        uow.commit()
    assert _history(uow_factory, customer_id)[: len(history) + 1] == [*history, ("reverse", 10)]
    assert _detail(uow_factory, customer_id).total == 0


def test_a_spend_whose_points_a_refund_gave_back_whole_cannot_be_undone(uow_factory, customer_id):
    grant(uow_factory, customer_id, 50, "g")
    spent = pay_with_points(uow_factory, customer_id, 30)
    with uow_factory() as uow:
        purchases.refund_purchase(
            uow=uow, purchase=uow.session.get(Purchase, spent.purchase_id), amount=30, external_id="R1"
        )
        uow.commit()
    with uow_factory() as uow, pytest.raises(AlreadyReversed):
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="mistake")
    assert _detail(uow_factory, customer_id).total == 50
