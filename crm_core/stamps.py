"""Stamp cards, for shops that count visits rather than yen: one stamp per visit per business day,
and a reward when the card is full (like LINE's shop card)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import timeline
from crm_core.loyalty import Program
from crm_core.models import Reward, StampVisit
from crm_core.points import lock_account
from crm_core.uow import UnitOfWork

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


@dataclass(frozen=True)
class StampResult:
    stamped: bool  # False when today's stamp was already given
    stamps: int  # on the current card, after this visit
    reward: Reward | None


def new_reward_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


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
    """Give today's stamp (a second visit the same day gives none); a full card issues the reward."""
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
        account.stamps -= program.stamp_goal
        reward = Reward(
            customer_id=customer_id,
            code=new_reward_code(),
            kind="stamp_card",
            title=program.stamp_reward_title,
            source_key=f"stamps:{customer_id}:{visit.id}",
            issued_at=uow.now(),
            expires_at=uow.now() + timedelta(days=program.stamp_reward_days),
        )
        uow.session.add(reward)
        timeline.record(uow=uow, kind="reward_issued", customer_id=customer_id, data={"title": reward.title})
    account.updated_at = uow.now()
    uow.session.flush()
    return StampResult(stamped=True, stamps=account.stamps, reward=reward)


def open_rewards(*, uow: UnitOfWork, customer_id: int) -> list[Reward]:
    now = uow.now()
    query = select(Reward).where(
        Reward.customer_id == customer_id, Reward.redeemed_at.is_(None), Reward.expires_at > now
    )
    return list(uow.session.exec(query.order_by(Reward.expires_at)))
