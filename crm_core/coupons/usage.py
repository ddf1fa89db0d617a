"""What became of a coupon's definition: how many were issued, claimed by customers themselves, and used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func
from sqlmodel import select

from crm_core.models import CustomerCoupon
from crm_core.uow import UnitOfWork

CLAIMED_BY = ("claim", "points", "lottery")  # the customer took it in LINE; otherwise a flow or the API gave it


@dataclass(frozen=True)
class Usage:
    issued: int = 0  # every coupon customers got, however they got it
    claimed: int = 0  # of those, the ones customers claimed, exchanged points for or won
    redeemed: int = 0

    @property
    def redemption_rate(self) -> float | None:
        """The share of the coupons issued that were used; None before any was issued."""
        return self.redeemed / self.issued if self.issued else None


def usage_of(*, uow: UnitOfWork, coupon_ids: Iterable[int]) -> dict[int, Usage]:
    """Each coupon's usage, in one query (a coupon nobody got yet has Usage() with zeros)."""
    ids = sorted(set(coupon_ids))
    found = {coupon_id: Usage() for coupon_id in ids}
    if not ids:
        return found
    query = (
        select(
            CustomerCoupon.coupon_id,
            func.count(),
            func.sum(case((CustomerCoupon.obtained_by.in_(CLAIMED_BY), 1), else_=0)),
            func.sum(case((CustomerCoupon.status == "redeemed", 1), else_=0)),
        )
        .where(CustomerCoupon.coupon_id.in_(ids))
        .group_by(CustomerCoupon.coupon_id)
    )
    for coupon_id, issued, claimed, redeemed in uow.session.exec(query):
        found[coupon_id] = Usage(issued=issued, claimed=int(claimed or 0), redeemed=int(redeemed or 0))
    return found
