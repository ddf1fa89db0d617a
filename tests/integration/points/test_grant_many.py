"""Points for an import batch (`grant_many`): each purchase's points once, dated at the purchase, with the
program's pending days and expiry, the balances right for a thousand customers and more, a rerun adding
nothing. Written against mutants that survived the import tests (issue 18); each fails with its mutant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event, func
from sqlmodel import select

from crm_core import customers, points
from crm_core.loyalty import Program
from crm_core.models import Customer, PointAccount, PointEntry, PointLot

TOKYO = ZoneInfo("Asia/Tokyo")
PROGRAM = Program(validity_days=30, pending_days=2)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite gives back naive UTC


def _import(uow_factory, specs):
    with uow_factory() as uow:
        granted = points.grant_many(uow=uow, grants=specs, program=PROGRAM, zone=TOKYO)
        uow.commit()
        return granted


def test_an_import_grants_each_purchases_points_once_dated_at_the_purchase(uow_factory, clock):
    with uow_factory() as uow:
        hanako = customers.create_customer(uow=uow, name="山田 花子").id
        uow.commit()
    bought = datetime(2026, 11, 20, 14, 59, 59, tzinfo=UTC)  # 23:59:59 in Tokyo
    specs = [
        points.GrantSpec(customer_id=hanako, amount=12, idempotency_key="import:A", occurred_at=bought),
        points.GrantSpec(customer_id=hanako, amount=0, idempotency_key="import:B", occurred_at=bought),  # earns none
        points.GrantSpec(customer_id=hanako, amount=5, idempotency_key="import:C", occurred_at=bought),
    ]
    assert _import(uow_factory, specs) == 17
    assert _import(uow_factory, specs) == 0
    with uow_factory() as uow:
        account = uow.session.get(PointAccount, hanako)
        assert (account.balance, account.stamps) == (17, 0)
        entries = uow.session.exec(select(PointEntry).order_by(PointEntry.id)).all()
        assert [(e.idempotency_key, e.amount) for e in entries] == [("import:A", 12), ("import:C", 5)]
        assert {_utc(e.occurred_at) for e in entries} == {bought}
        assert {_utc(e.created_at) for e in entries} == {clock.now()}
        lots = uow.session.exec(select(PointLot).order_by(PointLot.id)).all()
        assert [(lot.amount, lot.remaining) for lot in lots] == [(12, 12), (5, 5)]
        assert {_utc(lot.available_at) for lot in lots} == {bought + timedelta(days=2)}
        # the purchase's business day is 11-20 in Tokyo: 30 days on, the points end at 12-21 00:00 in Tokyo
        assert {_utc(lot.expires_at) for lot in lots} == {datetime(2026, 12, 21, tzinfo=TOKYO).astimezone(UTC)}


def test_an_import_for_more_than_a_thousand_customers_sets_each_balance_once(uow_factory, clock):
    with uow_factory() as uow:
        uow.session.add_all(
            Customer(member_number=f"M{n:05d}", name=f"会員 {n}", created_at=clock.now(), updated_at=clock.now())
            for n in range(1001)
        )
        uow.commit()
        ids = list(uow.session.exec(select(Customer.id).order_by(Customer.id)))
    specs = [
        points.GrantSpec(customer_id=c, amount=3, idempotency_key=f"import:{c}", occurred_at=clock.now()) for c in ids
    ]
    assert _import(uow_factory, specs) == 3 * 1001
    assert _import(uow_factory, specs) == 0  # every key of the thousand and one is found again
    with uow_factory() as uow:
        balances = uow.session.exec(select(PointAccount.balance)).all()
        assert (len(balances), set(balances)) == (1001, {3})
        assert uow.session.exec(select(func.count()).select_from(PointEntry)).one() == 1001


def test_an_import_asks_for_each_key_once_at_most_500_keys_a_statement(services, uow_factory, clock):
    with uow_factory() as uow:
        hanako = customers.create_customer(uow=uow, name="山田 花子").id
        uow.commit()
    specs = [
        points.GrantSpec(customer_id=hanako, amount=1, idempotency_key=f"import:{n}", occurred_at=clock.now())
        for n in range(1001)
    ]
    asked: list[int] = []

    def executed(_connection, _cursor, statement, parameters, *_):
        if statement.startswith("SELECT point_entries.idempotency_key"):
            asked.append(len(parameters))

    event.listen(services.engine, "before_cursor_execute", executed)
    try:
        assert _import(uow_factory, specs) == 1001
    finally:
        event.remove(services.engine, "before_cursor_execute", executed)
    # SQLite before 3.32 binds at most 999 parameters a statement; a key asked twice is wasted work
    assert asked == [500, 500, 1]
