"""Customers a marketer can preview an automation's message for: ones who may get marketing on LINE now."""

from __future__ import annotations

from sqlalchemy import and_, func, or_
from sqlmodel import select

from crm_core.models import ChannelIdentity, Customer, Purchase
from crm_core.uow import UnitOfWork


def suggested_customers(*, uow: UnitOfWork, limit: int = 5) -> list[Customer]:
    """Up to `limit` customers who may get marketing messages (LINE friend, not blocked, consented, not
    opted out, not erased), those who bought most recently first, so a preview has a history to show."""
    last_purchase = (
        select(Purchase.customer_id, func.max(Purchase.occurred_at).label("at"))
        .group_by(Purchase.customer_id)
        .subquery()
    )
    query = (
        select(Customer)
        .join(ChannelIdentity, and_(ChannelIdentity.customer_id == Customer.id, ChannelIdentity.channel == "line"))
        .outerjoin(last_purchase, last_purchase.c.customer_id == Customer.id)
        .where(ChannelIdentity.followed, ChannelIdentity.blocked_at.is_(None))
        .where(or_(Customer.consented_at.is_not(None), ChannelIdentity.consented_at.is_not(None)))
        .where(Customer.marketing_opt_out.is_(False), Customer.erased_at.is_(None))
        .order_by(last_purchase.c.at.is_(None), last_purchase.c.at.desc(), Customer.id)
        .limit(limit)
    )
    return list(uow.session.exec(query))
