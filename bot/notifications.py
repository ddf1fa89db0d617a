"""Transactional LINE messages that follow a change made outside a conversation (till, API).

Each is an outbox row written in the caller's transaction and delivered in the background after
the commit, so a slow LINE never slows the till; blocked customers get nothing.
"""

from __future__ import annotations

from bot.i18n import normalize_locale
from crm_core import customers, loyalty, outbox, shop
from crm_core.models import Customer, PointAccount, Purchase, Store
from crm_core.purchases import PurchaseResult
from crm_core.uow import UnitOfWork


def queue_receipt(*, services, uow: UnitOfWork, result: PurchaseResult, points_spent: int = 0) -> list[int]:
    """A receipt on LINE for a new purchase (amount, points earned, new balance), once per purchase."""
    purchase = result.purchase
    identity = customers.line_identity_of(uow=uow, customer_id=purchase.customer_id)
    if identity is None or identity.blocked_at is not None or not identity.followed or not result.created:
        return []
    program = loyalty.get_program(uow=uow)
    store = uow.session.get(Store, purchase.store_id)
    account = uow.session.get(PointAccount, purchase.customer_id)
    profile = shop.get_profile(uow=uow)
    messages = services.renderer.render(
        "receipt",
        locale=normalize_locale(identity.language, services.settings.locale),
        shop_name=profile.name,
        mode=program.mode,
        store=store.name,
        occurred_at=purchase.occurred_at,
        total=purchase.total,
        points_earned=result.points_earned,
        points_spent=points_spent,
        balance=account.balance if account else 0,
        stamps=result.stamps or 0,
        stamp_goal=program.stamp_goal,
        reward_title=result.reward.title if result.reward else None,
    )
    rows = outbox.enqueue(
        uow=uow,
        address=identity.address,
        customer_id=purchase.customer_id,
        messages=messages,
        category="transactional",
        dedupe_key=f"receipt:{purchase.id}",
    )
    ids = [row.id for row in rows]
    uow.after_commit(lambda: services.pump.run_in_background(lambda: services.delivery.deliver(ids)))
    return ids


def queue_profile_saved(*, services, uow: UnitOfWork, customer: Customer) -> list[int]:
    """A short "profile saved" on LINE after the customer saved the profile page."""
    identity = customers.line_identity_of(uow=uow, customer_id=customer.id)
    if identity is None or identity.blocked_at is not None or not identity.followed:
        return []
    profile = shop.get_profile(uow=uow)
    messages = services.renderer.render(
        "profile_saved",
        locale=normalize_locale(identity.language, services.settings.locale),
        shop_name=profile.name,
        name=customer.name,
    )
    rows = outbox.enqueue(
        uow=uow, address=identity.address, customer_id=customer.id, messages=messages, category="reply"
    )
    ids = [row.id for row in rows]
    uow.after_commit(lambda: services.pump.run_in_background(lambda: services.delivery.deliver(ids)))
    return ids


POINTS_CHANGES = ("cancelled", "points_returned", "refunded")


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
    identity = customers.line_identity_of(uow=uow, customer_id=purchase.customer_id)
    if identity is None or identity.blocked_at is not None or not identity.followed:
        return []
    store = uow.session.get(Store, purchase.store_id)
    account = uow.session.get(PointAccount, purchase.customer_id)
    messages = services.renderer.render(
        "points_changed",
        locale=normalize_locale(identity.language, services.settings.locale),
        shop_name=shop.get_profile(uow=uow).name,
        change=change,
        store=store.name,
        occurred_at=purchase.occurred_at,
        total=purchase.total,
        amount=amount,
        points_taken=points_taken,
        points_returned=points_returned,
        balance=account.balance if account else 0,
    )
    rows = outbox.enqueue(
        uow=uow,
        address=identity.address,
        customer_id=purchase.customer_id,
        messages=messages,
        category="transactional",
        dedupe_key=dedupe_key,
    )
    ids = [row.id for row in rows]
    uow.after_commit(lambda: services.pump.run_in_background(lambda: services.delivery.deliver(ids)))
    return ids
