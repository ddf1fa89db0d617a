"""Stamp cards, for shops that count visits rather than yen: one stamp per visit per business day,
and a reward when the card is full (like LINE's shop card).

The reward is a coupon of this system (`crm_core.coupons`): the definition the program names
(`stamp_reward_coupon_id`), or else a gift made once from the program's reward title and days. It is
issued with the key `stamps:<customer>:<visit>`, so a full card gives exactly one, and is shown and
redeemed like any coupon.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import coupons, timeline
from crm_core.errors import CouponRefused
from crm_core.loyalty import Program, save_program
from crm_core.models import Coupon, CustomerCoupon, StampVisit
from crm_core.points import lock_account
from crm_core.uow import UnitOfWork

OBTAINED_BY = "stamps"


@dataclass(frozen=True)
class StampReward:
    """A stamp-card reward the customer holds: the coupon and its title."""

    held: CustomerCoupon
    title: str

    @property
    def expires_at(self) -> datetime:
        return self.held.expires_at

    @property
    def code(self) -> str:
        return self.held.code


@dataclass(frozen=True)
class StampResult:
    stamped: bool  # False when today's stamp was already given
    stamps: int  # on the current card, after this visit
    reward: StampReward | None


def reward_coupon(*, uow: UnitOfWork, program: Program) -> Coupon:
    """The coupon definition a full card gives: the program's, or a gift defined now from its title and days."""
    if program.stamp_reward_coupon_id is not None:
        coupon = coupons.get_coupon(uow=uow, coupon_id=program.stamp_reward_coupon_id)
        if coupon is not None:
            return coupon
    spec = coupons.CouponSpec(
        title=program.stamp_reward_title,
        benefit_kind="gift",
        benefit_item=program.stamp_reward_title,
        valid_days=program.stamp_reward_days,
        per_customer_limit=None,
        obtain="flow",
    )
    coupon = coupons.define_coupon(uow=uow, spec=spec)
    save_program(uow=uow, program=replace(program, stamp_reward_coupon_id=coupon.id))
    return coupon


def stamp_visit(
    *,
    uow: UnitOfWork,
    customer_id: int,
    program: Program,
    zone: ZoneInfo,
    when: datetime | None = None,
    store_id: int | None = None,
    purchase_id: int | None = None,
    staff_user_id: int | None = None,
) -> StampResult:
    """Give today's stamp (a second visit the same day gives none); a full card issues the reward coupon.

    When the reward coupon cannot be issued (switched off, out of stock, past its last day) the card stays
    full, the refusal is on the customer's timeline, and a later visit issues it once the coupon is fixed.
    """
    when = when or uow.now()
    account = lock_account(uow, customer_id)
    visit_date = when.astimezone(zone).date()
    already = uow.session.exec(
        select(StampVisit.id).where(StampVisit.customer_id == customer_id, StampVisit.visit_date == visit_date)
    ).first()
    if already is not None:
        return StampResult(stamped=False, stamps=account.stamps, reward=None)
    visit = StampVisit(
        customer_id=customer_id,
        visit_date=visit_date,
        store_id=store_id,
        purchase_id=purchase_id,
        staff_user_id=staff_user_id,
        created_at=uow.now(),
    )
    try:
        with uow.session.begin_nested():
            uow.session.add(visit)
    except IntegrityError:
        return StampResult(stamped=False, stamps=account.stamps, reward=None)
    account.stamps += 1
    reward = None
    if account.stamps >= program.stamp_goal:
        coupon = reward_coupon(uow=uow, program=program)
        try:
            issued = coupons.issue_coupon(
                uow=uow,
                coupon_id=coupon.id,
                customer_id=customer_id,
                idempotency_key=f"stamps:{customer_id}:{visit.id}",
                obtained_by=OBTAINED_BY,
                zone=zone,
            )
        except CouponRefused as refused:
            timeline.record(
                uow=uow,
                kind="reward_not_issued",
                customer_id=customer_id,
                data={"coupon_id": coupon.id, "title": coupon.title, "reason": refused.code},
            )
        else:
            account.stamps -= program.stamp_goal
            reward = StampReward(held=issued.coupon, title=coupon.title)
            timeline.record(uow=uow, kind="reward_issued", customer_id=customer_id, data={"title": coupon.title})
    account.updated_at = uow.now()
    uow.session.flush()
    return StampResult(stamped=True, stamps=account.stamps, reward=reward)


def open_rewards(*, uow: UnitOfWork, customer_id: int) -> list[StampReward]:
    """The stamp-card reward coupons the customer can still use, soonest to expire first."""
    query = (
        select(CustomerCoupon, Coupon.title)
        .join(Coupon, Coupon.id == CustomerCoupon.coupon_id)
        .where(
            CustomerCoupon.customer_id == customer_id,
            CustomerCoupon.obtained_by == OBTAINED_BY,
            CustomerCoupon.status == "issued",
            CustomerCoupon.expires_at > uow.now(),
        )
        .order_by(CustomerCoupon.expires_at, CustomerCoupon.id)
    )
    return [StampReward(held=held, title=title) for held, title in uow.session.exec(query)]
