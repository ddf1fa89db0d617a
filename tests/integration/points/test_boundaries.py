"""Points at their boundaries: the exact expiry instant, the exact moment pending points become usable,
the shop's day for undoing at the till, and the order a customer reads their points in.

Each test here was written against a planted mistake (issue 18) and fails with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_core import points
from crm_core.errors import InsufficientPoints, InvalidInput, TooLateToUndo
from crm_core.loyalty import Program, save_program
from tests.integration.points.steps import spend

TOKYO = ZoneInfo("Asia/Tokyo")


def _grant(uow_factory, customer_id, amount, key):
    with uow_factory() as uow:
        entry = points.grant(uow=uow, customer_id=customer_id, amount=amount, idempotency_key=key)
        uow.commit()
        (lot,) = [lot for lot in points.usable_lots(uow, customer_id, include_pending=True) if lot.entry_id == entry.id]
        return entry, lot.available_at, lot.expires_at


def _detail(uow_factory, customer_id):
    with uow_factory() as uow:
        detail = points.details(uow=uow, customer_id=customer_id)
        assert detail.total == points.ledger_balance(uow=uow, customer_id=customer_id)
        return detail


def test_points_are_usable_until_the_instant_before_they_expire(uow_factory, customer_id, clock):
    _, _, expires_at = _grant(uow_factory, customer_id, 10, "g")
    assert expires_at.astimezone(TOKYO).time().isoformat() == "00:00:00"  # the end of the shop's day
    clock.set(expires_at - timedelta(microseconds=1))
    assert _detail(uow_factory, customer_id).available == 10
    spend(uow_factory, customer_id, 1, "last-moment")


def test_at_the_expiry_instant_points_can_no_longer_be_used(uow_factory, customer_id, clock):
    _, _, expires_at = _grant(uow_factory, customer_id, 10, "g")
    clock.set(expires_at)
    assert _detail(uow_factory, customer_id).available == 0
    with pytest.raises(InsufficientPoints) as refused:
        spend(uow_factory, customer_id, 1, "too-late")
    assert refused.value.params["available"] == 0


def test_the_expiry_job_expires_points_at_the_expiry_instant_not_later(uow_factory, customer_id, clock):
    _, _, expires_at = _grant(uow_factory, customer_id, 10, "g")
    clock.set(expires_at - timedelta(microseconds=1))
    with uow_factory() as uow:
        assert points.expire_due(uow=uow) == 0
        uow.commit()
    clock.set(expires_at)
    with uow_factory() as uow:
        assert points.expire_due(uow=uow) == 10
        uow.commit()
    assert _detail(uow_factory, customer_id).total == 0


def test_points_given_back_at_the_expiry_instant_expire_again_at_once(uow_factory, customer_id, clock):
    _, _, expires_at = _grant(uow_factory, customer_id, 10, "g")
    spent = spend(uow_factory, customer_id, 4, "s")
    clock.set(expires_at)
    with uow_factory() as uow:
        points.expire_due(uow=uow)
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo", reason="complaint")
        uow.commit()
    assert _detail(uow_factory, customer_id).total == 0


def test_pending_points_become_usable_at_the_exact_instant_and_count_once(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(pending_days=14))
        uow.commit()
    _, available_at, _ = _grant(uow_factory, customer_id, 10, "g")
    clock.set(available_at - timedelta(microseconds=1))
    detail = _detail(uow_factory, customer_id)
    assert (detail.total, detail.available, detail.pending) == (10, 0, 10)
    clock.set(available_at)
    detail = _detail(uow_factory, customer_id)
    assert (detail.total, detail.available, detail.pending) == (10, 10, 0)
    spend(uow_factory, customer_id, 10, "s")


def test_expiring_points_are_listed_soonest_first(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(validity_days=30))
        uow.commit()
    _, _, first = _grant(uow_factory, customer_id, 10, "early")
    clock.advance(days=3)
    _, _, second = _grant(uow_factory, customer_id, 7, "later")
    assert _detail(uow_factory, customer_id).expiring == [(first, 10), (second, 7)]


def test_the_history_shows_the_newest_entries(uow_factory, customer_id, clock):
    for key in ("first", "second", "third"):
        _grant(uow_factory, customer_id, 1, key)
        clock.advance(minutes=1)
    with uow_factory() as uow:
        shown = points.entries_of(uow=uow, customer_id=customer_id, limit=2)
        assert [entry.idempotency_key for entry in shown] == ["third", "second"]


def _tokyo(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


@pytest.mark.parametrize(
    ("sold", "undone", "allowed"),
    [
        (_tokyo(22, 8, 0), _tokyo(22, 8, 30), True),
        (_tokyo(22, 8, 0), _tokyo(22, 9, 0), True),  # 09:00 in Tokyo is midnight UTC: a new UTC day
        (_tokyo(22, 8, 30), _tokyo(22, 23, 59), True),
        (_tokyo(21, 23, 59), _tokyo(22, 0, 0), False),  # the same UTC day, but the shop's next day
        (_tokyo(21, 23, 59), _tokyo(22, 8, 30), False),
    ],
    ids=["08:00-08:30", "across UTC midnight", "until 23:59", "23:59-00:00", "last evening"],
)
def test_the_till_undoes_only_sales_of_the_shops_own_day(uow_factory, customer_id, clock, sold, undone, allowed):
    clock.set(sold)
    granted, _, _ = _grant(uow_factory, customer_id, 30, "sale")
    clock.set(undone)
    with uow_factory() as uow:
        if allowed:
            points.reverse(uow=uow, entry_id=granted.id, idempotency_key="undo", reason="mistake", same_day_in=TOKYO)
            uow.commit()
        else:
            with pytest.raises(TooLateToUndo):
                points.reverse(
                    uow=uow, entry_id=granted.id, idempotency_key="undo", reason="mistake", same_day_in=TOKYO
                )
    assert _detail(uow_factory, customer_id).total == (0 if allowed else 30)


def test_a_grant_whose_points_were_partly_used_cannot_be_undone(uow_factory, customer_id):
    granted, _, _ = _grant(uow_factory, customer_id, 50, "g")
    spend(uow_factory, customer_id, 20, "s")
    with uow_factory() as uow, pytest.raises(InsufficientPoints) as refused:
        points.reverse(uow=uow, entry_id=granted.id, idempotency_key="undo", reason="mistake")
    assert refused.value.params["available"] == 30
    assert _detail(uow_factory, customer_id).total == 30


def test_a_manual_correction_in_either_direction_can_be_undone(uow_factory, customer_id):
    _grant(uow_factory, customer_id, 10, "g")
    with uow_factory() as uow:
        taken = points.adjust(
            uow=uow, customer_id=customer_id, amount=-3, reason="typo", idempotency_key="minus", staff_user_id=None
        )
        added = points.adjust(
            uow=uow, customer_id=customer_id, amount=5, reason="apology", idempotency_key="plus", staff_user_id=None
        )
        uow.commit()
    with uow_factory() as uow:
        back = points.reverse(uow=uow, entry_id=taken.id, idempotency_key="undo-minus", reason="wrong customer")
        gone = points.reverse(uow=uow, entry_id=added.id, idempotency_key="undo-plus", reason="wrong customer")
        uow.commit()
        assert (back.amount, gone.amount) == (3, -5)
    assert _detail(uow_factory, customer_id).total == 10


def test_a_spend_uses_the_points_expiring_soonest_even_when_granted_last(uow_factory, customer_id):
    long_lived, _, _ = _grant(uow_factory, customer_id, 10, "year")
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(validity_days=30))
        uow.commit()
    short_lived, _, _ = _grant(uow_factory, customer_id, 10, "month")
    spend(uow_factory, customer_id, 4, "s")
    with uow_factory() as uow:
        left = {lot.entry_id: lot.remaining for lot in points.usable_lots(uow, customer_id)}
        assert left == {long_lived.id: 10, short_lived.id: 6}


@pytest.mark.parametrize("amount", [0, -1, True, 1.5])
def test_zero_or_odd_amounts_are_refused_and_change_nothing(uow_factory, customer_id, amount):
    with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            points.grant(uow=uow, customer_id=customer_id, amount=amount, idempotency_key="g")
        with pytest.raises(InvalidInput):
            points.spend(uow=uow, customer_id=customer_id, amount=amount, idempotency_key="s")
    assert _detail(uow_factory, customer_id).total == 0
