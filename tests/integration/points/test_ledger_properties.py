"""A Hypothesis state machine drives random grants, spends, refunds, reversals, expiries and clock
moves against the real ledger, and checks it against a simple model after every step."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func
from sqlmodel import select

from crm_core import customers, points, purchases
from crm_core.clock import FakeClock
from crm_core.db import make_engine, make_session_factory
from crm_core.errors import InsufficientPoints
from crm_core.loyalty import Program, save_program
from crm_core.models import PointLot, Store
from crm_core.uow import UnitOfWorkFactory
from tests.conftest import PG_URL, fresh_database

TOKYO = ZoneInfo("Asia/Tokyo")
PROGRAM = Program(validity_days=30, pending_days=2, yen_per_point=100)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_ledger_matches_a_simple_model(_migrated_database, tmp_path):
    class Ledger(RuleBasedStateMachine):
        @initialize()
        def open_shop(self):
            url = fresh_database(_migrated_database, tmp_path)
            self.engine = make_engine(url)
            self.clock = FakeClock(datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
            self.uow = UnitOfWorkFactory(make_session_factory(self.engine), self.clock)
            with self.uow() as uow:
                save_program(uow=uow, program=PROGRAM)
                self.customer_id = customers.create_customer(uow=uow, name="model").id
                store = Store(code="S", name="S", created_at=uow.now())
                uow.session.add(store)
                uow.commit()
                self.store_id = store.id
            # the model: lots as [granted points, remaining, available_at, expires_at]
            self.lots: list[list] = []
            self.purchases: list[tuple] = []  # (purchase id, total, refunded, points earned, model lot index)
            self.spends: list[int] = []
            self.counter = 0

        def teardown(self):
            self.engine.dispose()

        def _key(self, prefix: str) -> str:
            self.counter += 1
            return f"{prefix}-{self.counter}"

        def _model_usable(self, include_pending: bool = False):
            now = self.clock.now()
            usable = [lot for lot in self.lots if lot[1] > 0 and lot[3] > now and (include_pending or lot[2] <= now)]
            return sorted(usable, key=lambda lot: (lot[3], self.lots.index(lot)))

        @rule(total=st.integers(min_value=0, max_value=20_000))
        def purchase(self, total):
            with self.uow() as uow:
                result = purchases.record_purchase(
                    uow=uow, customer_id=self.customer_id, store_id=self.store_id, total=total
                )
                uow.commit()
            expected = PROGRAM.points_for(total, PROGRAM.tier_named(result.tier_before).multiplier_pct)
            assert result.points_earned == expected
            if expected:
                now = self.clock.now()
                self.lots.append([expected, expected, PROGRAM.available_from(now), PROGRAM.expiry_for(now, TOKYO)])
            self.purchases.append((result.purchase.id, total, 0, expected, len(self.lots) - 1 if expected else None))

        @rule(amount=st.integers(min_value=1, max_value=300))
        def spend(self, amount):
            available = sum(lot[1] for lot in self._model_usable())
            try:
                with self.uow() as uow:
                    entry = points.spend(
                        uow=uow, customer_id=self.customer_id, amount=amount, idempotency_key=self._key("spend")
                    )
                    uow.commit()
            except InsufficientPoints:
                assert amount > available
                return
            assert amount <= available
            left = amount
            for lot in self._model_usable():
                part = min(lot[1], left)
                lot[1] -= part
                left -= part
            self.spends.append(entry.id)

        @precondition(lambda self: self.purchases)
        @rule(data=st.data())
        def refund(self, data):
            index = data.draw(st.integers(min_value=0, max_value=len(self.purchases) - 1))
            purchase_id, total, refunded, earned, lot_index = self.purchases[index]
            if total - refunded <= 0:
                return
            amount = data.draw(st.integers(min_value=1, max_value=total - refunded))
            with self.uow() as uow:
                purchase = uow.session.get(purchases.Purchase, purchase_id)
                result = purchases.refund_purchase(
                    uow=uow, purchase=purchase, amount=amount, external_id=self._key("refund")
                )
                uow.commit()
            wanted = earned * (total - refunded) // total - earned * (total - refunded - amount) // total
            # take back from the purchase's own lot first, then soonest expiry, pending included
            usable = self._model_usable(include_pending=True)
            if lot_index is not None and self.lots[lot_index] in usable:
                usable.remove(self.lots[lot_index])
                usable.insert(0, self.lots[lot_index])
            possible = min(wanted, sum(lot[1] for lot in usable))
            assert result.points_reversed == possible
            left = possible
            for lot in usable:
                part = min(lot[1], left)
                lot[1] -= part
                left -= part
            self.purchases[index] = (purchase_id, total, refunded + amount, earned, lot_index)

        @rule(days=st.integers(min_value=0, max_value=20))
        def time_passes_and_points_expire(self, days):
            self.clock.advance(days=days)
            with self.uow() as uow:
                points.expire_due(uow=uow)
                uow.commit()
            now = self.clock.now()
            for lot in self.lots:
                if lot[3] <= now:
                    lot[1] = 0

        @invariant()
        def balances_agree(self):
            with self.uow() as uow:
                cached = points.balance_of(uow=uow, customer_id=self.customer_id)
                ledger = points.ledger_balance(uow=uow, customer_id=self.customer_id)
                lots = uow.session.exec(
                    select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                        PointLot.customer_id == self.customer_id, PointLot.expires_at > self.clock.now()
                    )
                ).one()
                remaining = uow.session.exec(
                    select(PointLot.remaining).where(PointLot.customer_id == self.customer_id).order_by(PointLot.id)
                ).all()
            # expire_due runs in the same step as every clock move, so no expired lot keeps points
            assert cached == ledger >= 0
            assert lots == cached == sum(lot[1] for lot in self.lots)
            assert list(remaining) == [lot[1] for lot in self.lots]  # the right lots were used

    Ledger.TestCase.settings = settings(
        max_examples=25 if PG_URL else 60,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Ledger.TestCase("runTest").runTest()
