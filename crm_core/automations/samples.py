"""A message's context for one customer from their own history, due or not: what the preview shows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from crm_core import customers
from crm_core.automations.candidates import RECENT, RECOMMEND_UNTIL
from crm_core.automations.definitions import check_definition
from crm_core.automations.engine import PAIRS_PER_PRODUCT, Recipient, recommend
from crm_core.errors import N_, NotFound
from crm_core.models import (
    Booking,
    BookingMenu,
    PointLot,
    Product,
    ProductPair,
    Purchase,
    PurchaseItem,
    RepurchaseInterval,
    Store,
)
from crm_core.uow import UnitOfWork


def sample(*, uow: UnitOfWork, key: str, customer_id: int, zone: ZoneInfo) -> tuple[Recipient, dict]:
    """(recipient, context) for `key` and this customer now; made-up but plausible where history is missing."""
    check_definition(key)
    customer = customers.get_customer(uow=uow, customer_id=customer_id)
    if customer is None or customer.erased_at is not None:
        raise NotFound(N_("No customer %(id)s."), id=customer_id)
    identity = customers.line_identity_of(uow=uow, customer_id=customer_id)
    recipient = Recipient(
        customer_id=customer.id, name=customer.name, locale=(identity.language if identity else None) or customer.locale
    )
    now = uow.now()
    today = now.astimezone(zone).date()
    session = uow.session
    names = dict(session.execute(select(Product.sku, Product.name)).all())
    purchases = session.execute(
        select(Purchase.id, Purchase.occurred_at, Store.name)
        .join(Store, Store.id == Purchase.store_id)
        .where(Purchase.customer_id == customer_id)
        .order_by(Purchase.occurred_at.desc(), Purchase.id.desc())
        .limit(50)
    ).all()
    if key == "first_purchase":
        first = purchases[-1] if purchases else None
        return recipient, {"purchase_id": first[0] if first else None, "store": first[2] if first else None}
    if key == "replenishment":
        row = session.exec(
            select(RepurchaseInterval)
            .where(RepurchaseInterval.customer_id == customer_id)
            .order_by(RepurchaseInterval.due_on, RepurchaseInterval.sku)
        ).first()
        if row is not None:
            sku, last_on, interval, own = row.sku, row.last_purchased_on, row.interval_days, row.own
        else:
            item = session.execute(
                select(PurchaseItem.sku, Purchase.occurred_at)
                .join(Purchase, Purchase.id == PurchaseItem.purchase_id)
                .where(Purchase.customer_id == customer_id)
                .order_by(Purchase.occurred_at.desc(), PurchaseItem.sku)
            ).first()
            sku = item[0] if item else next(iter(sorted(names)), "")
            last_on = item[1].astimezone(zone).date() if item else today - timedelta(days=28)
            interval, own = 30, False
        return recipient, {
            "sku": sku,
            "product": names.get(sku, sku),
            "last_purchased_on": last_on.isoformat(),
            "interval_days": interval,
            "own_interval": own,
        }
    if key == "recommendations":
        latest = purchases[0][0] if purchases else None
        recent = {p[0] for p in purchases if p[1] > now - RECENT - RECOMMEND_UNTIL}
        items = session.execute(
            select(PurchaseItem.purchase_id, PurchaseItem.sku).where(PurchaseItem.purchase_id.in_(recent | {latest}))
        ).all()
        basket = {sku for purchase_id, sku in items if purchase_id == latest}
        pairs = defaultdict(list)
        for sku, other, score in session.execute(
            select(ProductPair.sku, ProductPair.other_sku, ProductPair.score)
            .where(ProductPair.sku.in_(basket), ProductPair.rank <= PAIRS_PER_PRODUCT)
            .order_by(ProductPair.sku, ProductPair.rank)
        ):
            pairs[sku].append((other, score))
        picks = recommend(basket, {sku for _, sku in items}, pairs)
        return recipient, {
            "purchase_id": latest,
            "items": [
                {"sku": sku, "name": names.get(sku, sku), "because_sku": src, "because": names.get(src, src)}
                for sku, src in picks
            ],
        }
    if key == "points_expiring":
        lots = session.exec(
            select(PointLot)
            .where(PointLot.customer_id == customer_id, PointLot.remaining > 0, PointLot.expires_at > now)
            .order_by(PointLot.expires_at, PointLot.id)
        ).all()
        if lots:
            last_day = (lots[0].expires_at - timedelta(microseconds=1)).astimezone(zone).date()
            total = sum(
                lot.remaining
                for lot in lots
                if (lot.expires_at - timedelta(microseconds=1)).astimezone(zone).date() == last_day
            )
        else:
            last_day, total = today + timedelta(days=7), 0
        return recipient, {"points": total, "expires_on": last_day.isoformat()}
    if key == "booking_reminder":
        return recipient, _booking_sample(uow, customer_id, zone)
    return recipient, {"month": customer.birth_month or today.month, "year": today.year}


def _booking_sample(uow: UnitOfWork, customer_id: int, zone: ZoneInfo) -> dict:
    """The customer's next booking, else a made-up one tomorrow at 11:00 at the first store."""
    now = uow.now()
    row = uow.session.execute(
        select(Booking.id, Booking.starts_at, Store.name, BookingMenu.name)
        .join(Store, Store.id == Booking.store_id)
        .join(BookingMenu, BookingMenu.id == Booking.menu_id)
        .where(Booking.customer_id == customer_id, Booking.status == "booked", Booking.starts_at > now)
        .order_by(Booking.starts_at)
    ).first()
    if row is None:
        store = uow.session.execute(select(Store.name).order_by(Store.code)).scalar() or ""
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        row = (None, datetime.combine(tomorrow, time(11), tzinfo=zone), store, "")
    booking_id, starts_at, store, menu = row
    return {
        "booking_id": booking_id,
        "store": store,
        "menu": menu,
        "starts_at": starts_at.astimezone(zone).isoformat(),
        "zone": zone.key,
        "when": "eve",
        "remind_at": now.isoformat(),
    }
