"""The demo shop's purchases earn points once (the keys the till uses), old ones expire, tiers follow."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_core import demo, points
from crm_core.models import Customer, PointAccount, PointEntry, Purchase


def test_demo_purchases_earn_points_once_and_old_points_expire(uow_factory):
    with uow_factory() as uow:
        added = demo.seed(uow=uow)
        uow.commit()
    assert added["points"] > 0
    with uow_factory() as uow:
        assert demo.seed(uow=uow) == dict.fromkeys(added, 0)
        uow.commit()
    with uow_factory() as uow:
        session = uow.session
        earning = session.scalar(select(func.count()).select_from(Purchase).where(Purchase.points_earned > 0))
        grants = session.scalars(select(PointEntry).where(PointEntry.kind == "grant")).all()
        assert len(grants) == earning and {g.idempotency_key for g in grants} == {
            f"purchase:{g.purchase_id}" for g in grants
        }
        assert sum(g.amount for g in grants) == added["points"]
        assert session.scalar(select(func.count()).select_from(PointEntry).where(PointEntry.kind == "expire")) > 0
        for account in session.scalars(select(PointAccount)):
            assert account.balance == points.ledger_balance(uow=uow, customer_id=account.customer_id)
        tiers = set(session.scalars(select(Customer.tier)))
        assert {"regular", "silver"} <= tiers
