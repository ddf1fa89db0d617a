"""The points ledger: grants, spends soonest-expiry first, expiry, reversals, idempotency, the cached balance."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from crm_core import customers, points, purchases
from crm_core.errors import AlreadyReversed, InsufficientPoints, InvalidInput, TooLateToUndo
from crm_core.loyalty import Program, save_program
from crm_core.models import PointAllocation, PointEntry, Store

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def customer_id(uow_factory):
    with uow_factory() as uow:
        customer = customers.create_customer(uow=uow, name="山田 花子")
        uow.session.add(Store(code="SHIBUYA", name="渋谷店", created_at=uow.now()))
        uow.commit()
        return customer.id


def _check_cache(uow, customer_id):
    assert points.balance_of(uow=uow, customer_id=customer_id) == points.ledger_balance(
        uow=uow, customer_id=customer_id
    )


def test_grant_is_idempotent(uow_factory, customer_id):
    with uow_factory() as uow:
        first = points.grant(uow=uow, customer_id=customer_id, amount=30, idempotency_key="g1")
        again = points.grant(uow=uow, customer_id=customer_id, amount=30, idempotency_key="g1")
        uow.commit()
        assert first.id == again.id
        assert points.balance_of(uow=uow, customer_id=customer_id) == 30
        _check_cache(uow, customer_id)


def test_spend_takes_soonest_expiring_lots_first(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        old = points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="old")
        clock.advance(days=30)
        new = points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="new")
        spent = points.spend(uow=uow, customer_id=customer_id, amount=15, idempotency_key="s1")
        uow.commit()
        allocations = uow.session.exec(select(PointAllocation).where(PointAllocation.entry_id == spent.id)).all()
        by_lot = {a.lot_id: a.amount for a in allocations}
        lots = {lot.entry_id: lot for lot in points.usable_lots(uow, customer_id, include_pending=True)}
        assert old.id not in lots  # used up
        assert lots[new.id].remaining == 5
        assert sorted(by_lot.values()) == [5, 10]
        _check_cache(uow, customer_id)


def test_cannot_spend_more_than_available(uow_factory, customer_id):
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="g")
        uow.commit()
    with uow_factory() as uow, pytest.raises(InsufficientPoints) as error:
        points.spend(uow=uow, customer_id=customer_id, amount=11, idempotency_key="s")
    assert error.value.params["available"] == 10
    with pytest.raises(InvalidInput), uow_factory() as uow:
        points.spend(uow=uow, customer_id=customer_id, amount=-5, idempotency_key="neg")


def test_points_expire_once_by_the_job(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="g")
        points.spend(uow=uow, customer_id=customer_id, amount=4, idempotency_key="s")
        uow.commit()
    clock.advance(days=367)
    for _ in range(2):
        with uow_factory() as uow:
            points.expire_due(uow=uow)
            uow.commit()
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 0
        expired = uow.session.exec(select(PointEntry).where(PointEntry.kind == "expire")).all()
        assert [e.amount for e in expired] == [-6]
        _check_cache(uow, customer_id)


def test_end_of_following_year_validity(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(validity_kind="end_of_next_year"))
        points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="g")
        uow.commit()
        (lot,) = points.usable_lots(uow, customer_id)
        assert lot.expires_at.astimezone(TOKYO).isoformat() == "2028-01-01T00:00:00+09:00"


def test_pending_days_hold_points_back(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(pending_days=14))
        points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="g")
        uow.commit()
    with uow_factory() as uow:
        detail = points.details(uow=uow, customer_id=customer_id)
        assert (detail.total, detail.available, detail.pending) == (10, 0, 10)
        with pytest.raises(InsufficientPoints):
            points.spend(uow=uow, customer_id=customer_id, amount=1, idempotency_key="s")
    clock.advance(days=14)
    with uow_factory() as uow:
        points.spend(uow=uow, customer_id=customer_id, amount=1, idempotency_key="s")


def test_reversal_points_at_what_it_undoes_and_only_once(uow_factory, customer_id):
    with uow_factory() as uow:
        spend_from = points.grant(uow=uow, customer_id=customer_id, amount=50, idempotency_key="g")
        spent = points.spend(uow=uow, customer_id=customer_id, amount=20, idempotency_key="s")
        undo = points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo-s", reason="mistake", same_day_in=TOKYO)
        uow.commit()
        assert undo.reverses_entry_id == spent.id and undo.amount == 20
        assert points.balance_of(uow=uow, customer_id=customer_id) == 50
        with pytest.raises(AlreadyReversed):
            points.reverse(uow=uow, entry_id=spent.id, idempotency_key="undo-s2", reason="again")
        _check_cache(uow, customer_id)
        assert spend_from.kind == "grant"


def test_undo_is_for_today_only(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        granted = points.grant(uow=uow, customer_id=customer_id, amount=50, idempotency_key="g")
        uow.commit()
    clock.advance(days=1)
    with uow_factory() as uow, pytest.raises(TooLateToUndo):
        points.reverse(uow=uow, entry_id=granted.id, idempotency_key="u", reason="late", same_day_in=TOKYO)


def test_adjustment_needs_a_reason(uow_factory, customer_id):
    with uow_factory() as uow:
        with pytest.raises(InvalidInput):
            points.adjust(
                uow=uow, customer_id=customer_id, amount=5, reason=" ", idempotency_key="a", staff_user_id=None
            )
        points.adjust(
            uow=uow, customer_id=customer_id, amount=5, reason="apology", idempotency_key="a", staff_user_id=None
        )
        points.adjust(
            uow=uow, customer_id=customer_id, amount=-2, reason="typo", idempotency_key="b", staff_user_id=None
        )
        uow.commit()
        assert points.balance_of(uow=uow, customer_id=customer_id) == 3


def _store_id(uow):
    return uow.session.exec(select(Store)).one().id


def test_purchase_earns_points_rounding_down_and_tier_multiplies(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        result = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=3240, external_id="P1"
        )
        uow.commit()
        assert (result.points_earned, result.points_balance) == (32, 32)
    with uow_factory() as uow:
        big = purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=30000)
        assert big.tier_before == "regular" and big.tier_after == "silver"
        silver = purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=1000)
        assert silver.points_earned == 15  # x1.5
        uow.commit()
    clock.advance(days=366)
    with uow_factory() as uow:
        after = purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=100)
        assert after.tier_after == "regular"  # a year later, spend has rolled off: downgrade
        uow.commit()


def test_same_external_id_answers_the_same_and_grants_nothing_more(uow_factory, customer_id):
    with uow_factory() as uow:
        first = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=1000, external_id="P1"
        )
        uow.commit()
    with uow_factory() as uow:
        again = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=1000, external_id="P1"
        )
        assert again.as_dict() == first.as_dict()
        assert not again.created


def test_refunds_reverse_the_points_of_the_refunded_part(uow_factory, customer_id):
    with uow_factory() as uow:
        result = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=1000, external_id="P1"
        )
        uow.commit()
    with uow_factory() as uow:
        purchase = purchases.get_by_external_id(uow=uow, external_id="P1")
        first = purchases.refund_purchase(uow=uow, purchase=purchase, amount=333, external_id="R1")
        second = purchases.refund_purchase(uow=uow, purchase=purchase, amount=667, external_id="R2")
        again = purchases.refund_purchase(uow=uow, purchase=purchase, amount=667, external_id="R2")
        uow.commit()
        assert first.points_reversed + second.points_reversed == result.points_earned == 10
        assert again.points_reversed == second.points_reversed
        assert points.balance_of(uow=uow, customer_id=customer_id) == 0
        _check_cache(uow, customer_id)
        with pytest.raises(InvalidInput):
            purchases.refund_purchase(uow=uow, purchase=purchase, amount=1, external_id="R3")


def test_refund_after_the_points_were_spent_never_goes_negative(uow_factory, customer_id):
    with uow_factory() as uow:
        purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=1000, external_id="P1"
        )
        points.spend(uow=uow, customer_id=customer_id, amount=8, idempotency_key="s")
        uow.commit()
    with uow_factory() as uow:
        purchase = purchases.get_by_external_id(uow=uow, external_id="P1")
        refund = purchases.refund_purchase(uow=uow, purchase=purchase, amount=1000, external_id="R1")
        uow.commit()
        assert (refund.points_reversed, refund.shortfall) == (2, 8)
        assert points.balance_of(uow=uow, customer_id=customer_id) == 0


def test_blocked_customers_still_shop(uow_factory, customer_id):
    from crm_core import channels, membership

    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address="U" + "a" * 32)
        channels.record_consent(uow=uow, identity=identity, notice_version="v")
        membership._attach(
            uow=uow, identity=identity, customer=customers.get_customer(uow=uow, customer_id=customer_id)
        )
        channels.record_unfollow(uow=uow, identity=identity)
        result = purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=500)
        assert result.points_earned == 5


def test_items_must_add_up(uow_factory, customer_id):
    with uow_factory() as uow, pytest.raises(InvalidInput):
        purchases.record_purchase(
            uow=uow,
            customer_id=customer_id,
            store_id=_store_id(uow),
            total=1000,
            items=[purchases.Item(sku="A", name="a", category="c", quantity=2, unit_price=400)],
        )


def test_stamp_card_one_per_day_and_a_reward_when_full(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        save_program(uow=uow, program=Program(mode="stamps", stamp_goal=3, stamp_reward_title="Free coffee"))
        uow.commit()
    rewards = []
    for _day in range(4):
        for _visit in range(2):
            with uow_factory() as uow:
                result = purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=400)
                uow.commit()
                if result.reward:
                    rewards.append(result.reward.title)
        clock.advance(days=1)
    assert rewards == ["Free coffee"]
    assert result.stamps == 1 and result.points_earned == 0


def test_grant_many_skips_known_keys_and_keeps_the_cache_right(uow_factory, customer_id, clock):
    specs = [
        points.GrantSpec(customer_id=customer_id, amount=n, idempotency_key=f"import:{n}", occurred_at=clock.now())
        for n in (1, 2, 3)
    ]
    for _ in range(2):
        with uow_factory() as uow:
            points.grant_many(uow=uow, grants=specs, program=Program(), zone=TOKYO)
            uow.commit()
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=customer_id) == 6
        _check_cache(uow, customer_id)
        points.spend(uow=uow, customer_id=customer_id, amount=6, idempotency_key="all")


def test_jobs_expire_points_and_move_tiers_down(uow_factory, customer_id, clock, services):
    from scheduler.jobs import JOBS

    with uow_factory() as uow:
        purchases.record_purchase(uow=uow, customer_id=customer_id, store_id=_store_id(uow), total=40000)
        uow.commit()
        assert customers.get_customer(uow=uow, customer_id=customer_id).tier == "silver"
    assert JOBS["points.expire"].run(services) == "expired 0 point(s)"
    clock.advance(days=367)
    assert JOBS["points.expire"].run(services) == "expired 400 point(s)"
    assert JOBS["tiers.refresh"].run(services) == "1 customer(s) changed tier"
    assert JOBS["tiers.refresh"].run(services) == "0 customer(s) changed tier"
    with uow_factory() as uow:
        assert customers.get_customer(uow=uow, customer_id=customer_id).tier == "regular"
        assert points.balance_of(uow=uow, customer_id=customer_id) == 0


def test_undoing_a_spend_after_its_points_expired_does_not_revive_them(uow_factory, customer_id, clock):
    with uow_factory() as uow:
        points.grant(uow=uow, customer_id=customer_id, amount=10, idempotency_key="g")
        spent = points.spend(uow=uow, customer_id=customer_id, amount=4, idempotency_key="s")
        uow.commit()
    clock.advance(days=367)
    with uow_factory() as uow:
        points.expire_due(uow=uow)
        points.reverse(uow=uow, entry_id=spent.id, idempotency_key="late-undo", reason="customer complaint")
        points.expire_due(uow=uow)
        uow.commit()
        assert points.balance_of(uow=uow, customer_id=customer_id) == 0
        _check_cache(uow, customer_id)
