"""Transactional LINE messages that follow a change made outside a conversation (till, API, profile page).

Each is an outbox row written in the caller's transaction and delivered in the background after
the commit, so a slow LINE never slows the till; blocked customers get nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from bot import flow_events
from bot.i18n import normalize_locale
from crm_core import customers, loyalty, outbox, reservations, shop
from crm_core.models import Booking, BookingMenu, Coupon, Customer, CustomerCoupon, PointAccount, Purchase, Store
from crm_core.purchases import PurchaseResult
from crm_core.uow import UnitOfWork

POINTS_CHANGES = ("cancelled", "points_returned", "refunded")


def _queue(
    *,
    services,
    uow: UnitOfWork,
    customer_id: int,
    template: str,
    category: str = "transactional",
    dedupe_key: str | None = None,
    **context,
) -> list[int]:
    """Render `template` in the customer's LINE language and queue it, unless they are not a friend now."""
    identity = customers.line_identity_of(uow=uow, customer_id=customer_id)
    if identity is None or identity.blocked_at is not None or not identity.followed:
        return []
    messages = services.renderer.render(
        template,
        locale=normalize_locale(identity.language, services.settings.locale),
        shop_name=shop.get_profile(uow=uow).name,
        **context,
    )
    rows = outbox.enqueue(
        uow=uow,
        address=identity.address,
        customer_id=customer_id,
        messages=messages,
        category=category,
        dedupe_key=dedupe_key,
    )
    ids = [row.id for row in rows]
    uow.after_commit(lambda: services.pump.run_in_background(lambda: services.delivery.deliver(ids)))
    return ids


def _balance(uow: UnitOfWork, customer_id: int) -> int:
    account = uow.session.get(PointAccount, customer_id)
    return account.balance if account else 0


def queue_receipt(*, services, uow: UnitOfWork, result: PurchaseResult, points_spent: int = 0) -> list[int]:
    """A receipt on LINE for a new purchase (amount, the coupon and its discount, points earned, new balance), once
    per purchase."""
    if not result.created:
        return []
    purchase = result.purchase
    flow_events.after_commit(services, uow, purchase.customer_id)  # a coupon for the Nth purchase, ...
    program = loyalty.get_program(uow=uow)
    coupon_title = uow.session.exec(  # the coupon used with it at the till (same transaction)
        select(Coupon.title)
        .join(CustomerCoupon, CustomerCoupon.coupon_id == Coupon.id)
        .where(CustomerCoupon.purchase_id == purchase.id)
    ).first()
    return _queue(
        services=services,
        uow=uow,
        customer_id=purchase.customer_id,
        template="receipt",
        dedupe_key=f"receipt:{purchase.id}",
        mode=program.mode,
        store=uow.session.get(Store, purchase.store_id).name,
        occurred_at=purchase.occurred_at,
        total=purchase.total,
        price=purchase.total + purchase.discount,
        discount=purchase.discount,
        coupon_title=coupon_title,
        points_earned=result.points_earned,
        points_spent=points_spent,
        balance=_balance(uow, purchase.customer_id),
        stamps=result.stamps or 0,
        stamp_goal=program.stamp_goal,
        reward_title=result.reward.title if result.reward else None,
    )


def queue_profile_saved(*, services, uow: UnitOfWork, customer: Customer) -> list[int]:
    """A short "profile saved" on LINE after the customer saved the profile page."""
    return _queue(
        services=services,
        uow=uow,
        customer_id=customer.id,
        template="profile_saved",
        category="reply",
        name=customer.name,
    )


def queue_points_change(
    *,
    services,
    uow: UnitOfWork,
    purchase: Purchase,
    change: str,
    dedupe_key: str,
    amount: int = 0,
    points_taken: int = 0,
    points_returned: int = 0,
) -> list[int]:
    """Tell the customer on LINE that a purchase was cancelled or refunded, or its points payment given back.

    `change` is one of POINTS_CHANGES; the message says what changed and the new balance, once per `dedupe_key`.
    """
    if change not in POINTS_CHANGES:
        raise ValueError(change)
    return _queue(
        services=services,
        uow=uow,
        customer_id=purchase.customer_id,
        template="points_changed",
        dedupe_key=dedupe_key,
        change=change,
        store=uow.session.get(Store, purchase.store_id).name,
        occurred_at=purchase.occurred_at,
        total=purchase.total,
        amount=amount,
        points_taken=points_taken,
        points_returned=points_returned,
        balance=_balance(uow, purchase.customer_id),
    )


def _booking_context(*, services, uow: UnitOfWork, booking: Booking) -> dict:
    """What a booking message says about the booking: the store (and its phone), the menu, the store's zone."""
    store = uow.session.get(Store, booking.store_id)
    menu = uow.session.get(BookingMenu, booking.menu_id)
    zone = reservations.zone_of(reservations.get_settings(uow=uow, store_id=store.id), services.settings.zone)
    return {"store": store.name, "phone": store.phone, "menu": menu.name, "zone": zone.key}


def queue_booking_changed(*, services, uow: UnitOfWork, booking: Booking, moved_from: datetime) -> list[int]:
    """Tell the customer on LINE that the store moved their booking (`booking` is the new one): the new time and
    the old one, once per new booking."""
    return _queue(
        services=services,
        uow=uow,
        customer_id=booking.customer_id,
        template="booking_changed",
        dedupe_key=f"booking_changed:{booking.id}",
        starts_at=booking.starts_at,
        moved_from=moved_from,
        **_booking_context(services=services, uow=uow, booking=booking),
    )


def queue_booking_cancelled(*, services, uow: UnitOfWork, booking: Booking) -> list[int]:
    """Tell the customer on LINE that the store cancelled their booking, once per booking."""
    return _queue(
        services=services,
        uow=uow,
        customer_id=booking.customer_id,
        template="booking_cancelled_by_store",
        dedupe_key=f"booking_cancelled_by_store:{booking.id}",
        starts_at=booking.starts_at,
        **_booking_context(services=services, uow=uow, booking=booking),
    )
