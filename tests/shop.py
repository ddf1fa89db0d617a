"""A small shop for tests that decide on purchase history: customers with or without LINE, products,
purchases, points (the automations' and the segments' tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from crm_core import automations, outbox, points
from crm_core.models import (
    AutomationDecision,
    ChannelIdentity,
    Customer,
    OutboxMessage,
    PointLot,
    Product,
    Purchase,
    PurchaseItem,
    Store,
)

TOKYO = ZoneInfo("Asia/Tokyo")


class Shop:
    def __init__(self, services, clock):
        self.services, self.clock = services, clock
        self.uow_factory = services.uow_factory
        self._purchases = self._customers = 0
        with self.uow_factory() as uow:
            store = Store(code="SHIBUYA", name="渋谷店", created_at=clock.now())
            uow.session.add(store)
            for sku, name in (("BEAN", "ブラジル 200g"), ("CAKE", "チーズケーキ"), ("MUG", "マグカップ")):
                uow.session.add(Product(sku=sku, name=name, category="x", price=1000))
            for n in range(1, 10):
                uow.session.add(Product(sku=f"P{n}", name=f"Product {n}", category="x", price=500))
            uow.commit()
            self.store_id = store.id

    def customer(
        self,
        name="山田 花子",
        *,
        line=True,
        followed=True,
        blocked=False,
        consented=True,
        opt_out=False,
        language="ja",
        birth_month=None,
        birth_date=None,
        tier="regular",
        joined=None,
        home_store=False,
        address=None,
    ) -> int:
        now = self.clock.now()
        self._customers += 1
        with self.uow_factory() as uow:
            customer = Customer(
                member_number=f"T{self._customers:09d}",
                name=name,
                locale="ja",
                consented_at=now - timedelta(days=100) if consented else None,
                marketing_opt_out=opt_out,
                birth_month=birth_month or (birth_date.month if birth_date else None),
                birth_day=(birth_date.day if birth_date else 1) if birth_month or birth_date else None,
                birth_date=birth_date,
                tier=tier,
                home_store_id=self.store_id if home_store else None,
                created_at=joined or now,
                updated_at=now,
            )
            uow.session.add(customer)
            uow.session.flush()
            if line:
                uow.session.add(
                    ChannelIdentity(
                        channel="line",
                        address=address or f"U{customer.id:032x}",
                        customer_id=customer.id,
                        display_name=name,
                        language=language,
                        followed=followed and not blocked,
                        blocked_at=now if blocked else None,
                        consented_at=None,
                        created_at=now,
                        updated_at=now,
                    )
                )
            uow.commit()
            return customer.id

    def buy(
        self, customer_id: int, when: datetime, *skus: str, total: int = 1000, refunded: int = 0, category: str = "x"
    ) -> int:
        self._purchases += 1
        with self.uow_factory() as uow:
            purchase = Purchase(
                external_id=f"T-{self._purchases}",
                customer_id=customer_id,
                store_id=self.store_id,
                total=total,
                refunded_total=refunded,
                occurred_at=when,
                created_at=when,
            )
            uow.session.add(purchase)
            uow.session.flush()
            for sku in skus:
                uow.session.add(
                    PurchaseItem(
                        purchase_id=purchase.id, sku=sku, name=sku, category=category, quantity=1, unit_price=total
                    )
                )
            uow.commit()
            return purchase.id

    def points(self, customer_id: int, amount: int, expires_at: datetime) -> None:
        with self.uow_factory() as uow:
            entry = points.grant(
                uow=uow,
                customer_id=customer_id,
                amount=amount,
                idempotency_key=f"test:{customer_id}:{expires_at.isoformat()}:{amount}",
                occurred_at=self.clock.now() - timedelta(days=300),
            )
            lot = uow.session.exec(select(PointLot).where(PointLot.entry_id == entry.id)).one()
            lot.expires_at = expires_at
            uow.commit()

    def switch_on(self, *keys: str, holdout_percent: int = 0) -> None:
        with self.uow_factory() as uow:
            for key in keys:
                automations.update_automation(uow=uow, key=key, enabled=True, holdout_percent=holdout_percent)
            uow.commit()

    def run(self, **kwargs):
        with self.uow_factory() as uow:
            return automations.run_due(uow=uow, render=self.services.automation_render(uow), zone=TOKYO, **kwargs)

    def refresh(self):
        with self.uow_factory() as uow:
            report = automations.refresh(uow=uow, zone=TOKYO)
            uow.commit()
            return report

    def decisions(self, key: str | None = None) -> list[AutomationDecision]:
        with self.uow_factory() as uow:
            query = select(AutomationDecision).order_by(AutomationDecision.id)
            if key:
                query = query.where(AutomationDecision.automation == key)
            return list(uow.session.exec(query))

    def outbox(self) -> list[OutboxMessage]:
        """The rows, each with `messages` as it will be sent (a shared body with the row's name put in)."""
        with self.uow_factory() as uow:
            rows = list(uow.session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))
            sent = outbox.contents(uow=uow, rows=rows)
            uow.session.expunge_all()
        for row in rows:
            row.messages = sent[row.id]
        return rows

    def outcomes(self, key: str | None = None) -> dict[int, tuple[str, str | None]]:
        return {(d.customer_id): (d.outcome, d.reason) for d in self.decisions(key)}


def flow_coupon(uow_factory, title: str = "おかえりクーポン", **changes) -> int:
    """A coupon coupon flows issue: ¥500 off for 14 days, no per-customer limit (a flow may come back)."""
    from crm_core import coupons  # noqa: PLC0415

    spec = {"title": title, "benefit_kind": "yen_off", "benefit_value": 500, "valid_days": 14, "obtain": "flow"}
    with uow_factory() as uow:
        made = coupons.define_coupon(
            uow=uow, spec=coupons.CouponSpec(**{**spec, "per_customer_limit": None, **changes})
        )
        uow.commit()
        return made.id
