"""Dispatcher fixtures: customers who are LINE friends (in the emulator and the database) and their outbox rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import insert, select

from crm_core.models import ChannelIdentity, Customer, OutboxMessage


@dataclass
class Audience:
    """Customers with their LINE user ids, in the order they were made."""

    customer_ids: list[int] = field(default_factory=list)
    line_user_ids: list[str] = field(default_factory=list)


def make_audience(uow_factory, line, count: int, *, consented: bool = True, prefix: str = "客") -> Audience:
    """`count` customers who followed the shop on LINE and agreed to the privacy notice, inserted in bulk."""
    line_user_ids = []
    for index in range(count):
        user = line.add_user(f"{prefix}{index}")
        line.follow(user)
        line_user_ids.append(user)
    run = uuid.uuid4().hex[:8]
    with uow_factory() as uow:
        now = uow.now()
        agreed = now if consented else None
        uow.session.execute(
            insert(Customer),
            [
                {
                    "member_number": f"T{run}{index:06d}",
                    "name": f"{prefix}{index}",
                    "locale": "ja",
                    "tier": "regular",
                    "marketing_opt_out": False,
                    "consented_at": agreed,
                    "created_at": now,
                    "updated_at": now,
                }
                for index in range(count)
            ],
        )
        ids = dict(
            uow.session.execute(
                select(Customer.member_number, Customer.id).where(Customer.member_number.startswith(f"T{run}"))
            ).all()
        )
        customer_ids = [ids[f"T{run}{index:06d}"] for index in range(count)]
        uow.session.execute(
            insert(ChannelIdentity),
            [
                {
                    "channel": "line",
                    "address": user,
                    "customer_id": customer_id,
                    "followed": True,
                    "link_failures": 0,
                    "consented_at": agreed,
                    "created_at": now,
                    "updated_at": now,
                }
                for user, customer_id in zip(line_user_ids, customer_ids, strict=True)
            ],
        )
        uow.commit()
    return Audience(customer_ids, line_user_ids)


def queue_campaign(uow_factory, audience: Audience, messages_for, *, category: str = "marketing") -> list[int]:
    """One outbox row per customer with `messages_for(index)`, as an automation writes them."""
    run = uuid.uuid4().hex
    with uow_factory() as uow:
        now = uow.now()
        rows = [
            {
                "customer_id": customer_id,
                "channel": "line",
                "address": address,
                "category": category,
                "messages": messages_for(index),
                "retry_key": str(uuid.uuid4()),
                "dedupe_key": f"test:{run}:{index}",
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for index, (customer_id, address) in enumerate(
                zip(audience.customer_ids, audience.line_user_ids, strict=True)
            )
        ]
        for start in range(0, len(rows), 1000):
            uow.session.execute(insert(OutboxMessage), rows[start : start + 1000])
        uow.commit()
        return list(
            uow.session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.dedupe_key.startswith(f"test:{run}:"))
                .order_by(OutboxMessage.id)
            )
        )


def text(value: str) -> list[dict]:
    return [{"type": "text", "text": value}]


SALE = text("秋のセール: 全品10%オフ")


def outbox_rows(uow_factory, ids) -> list[OutboxMessage]:
    """The outbox rows with these ids, oldest first."""
    with uow_factory() as uow:
        return list(
            uow.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
        )


def requests_to(line, endpoint: str) -> list:
    """The requests LINE got on one send endpoint ("push", "multicast"), in order."""
    return [r for r in line.requests if r.path.endswith("/" + endpoint)]


@pytest.fixture
def audience(uow_factory, line):
    return lambda count, **kwargs: make_audience(uow_factory, line, count, **kwargs)
