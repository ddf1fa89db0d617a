"""Single steps on the points ledger, each in its own committed unit of work, shared by the points tests."""

from __future__ import annotations

from crm_core import points, purchases
from crm_core.models import Purchase, Store


def grant(uow_factory, customer_id, amount, key):
    with uow_factory() as uow:
        entry = points.grant(uow=uow, customer_id=customer_id, amount=amount, idempotency_key=key)
        uow.commit()
        return entry


def spend(uow_factory, customer_id, amount, key):
    with uow_factory() as uow:
        entry = points.spend(uow=uow, customer_id=customer_id, amount=amount, idempotency_key=key)
        uow.commit()
        return entry


def take_back(uow_factory, customer_id, amount, key, from_entry_id):
    with uow_factory() as uow:
        entry = points.take_back(
            uow=uow, customer_id=customer_id, amount=amount, idempotency_key=key, from_entry_id=from_entry_id
        )
        uow.commit()
        return entry


def pay_with_points(uow_factory, customer_id, used):
    """A purchase paid with `used` points and nothing else (so it earns none); returns its spend."""
    with uow_factory() as uow:
        store = Store(code=f"S{used}", name="渋谷店", created_at=uow.now())
        uow.session.add(store)
        uow.session.flush()
        paid = purchases.record_purchase(
            uow=uow, customer_id=customer_id, store_id=store.id, total=used, points_used=used
        )
        uow.commit()
        return points.get_entry_by_key(uow=uow, idempotency_key=f"purchase-spend:{paid.purchase.id}")


def refund(uow_factory, purchase_id, amount, external_id):
    with uow_factory() as uow:
        purchase = uow.session.get(Purchase, purchase_id)
        result = purchases.refund_purchase(uow=uow, purchase=purchase, amount=amount, external_id=external_id)
        uow.commit()
        return result
