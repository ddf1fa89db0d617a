"""Points warnings and birthday messages become due at the exact instant, in business time."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.integration.automations.conftest import TOKYO


def test_the_points_warning_is_due_exactly_7_days_before_the_points_expire(shop, clock):
    shop.switch_on("points_expiring")
    customer = shop.customer("山田 花子")
    expires_at = datetime(2026, 12, 1, 0, 0, tzinfo=TOKYO)  # usable through Nov 30
    shop.points(customer, 120, expires_at)
    shop.points(customer, 30, expires_at)
    shop.points(customer, 500, expires_at + timedelta(days=40))  # not within 7 days

    clock.set(expires_at - timedelta(days=7, microseconds=1))
    assert shop.run().total == 0

    clock.set(expires_at - timedelta(days=7))
    report = shop.run()

    assert report.decided["points_expiring"]["send"] == 1
    (decision,) = shop.decisions()
    assert decision.occurrence == "points:2026-11-30"
    assert decision.context == {"points": 150, "expires_on": "2026-11-30"}
    assert decision.business_day.isoformat() == "2026-11-24"
    (row,) = shop.outbox()
    assert "150 ptのポイントの有効期限は2026年11月30日(月)まで" in str(row.messages)

    clock.advance(days=3)
    assert shop.run().total == 0  # warned once per expiry day


def test_no_warning_once_the_points_are_used_or_expired(shop, clock, uow_factory):
    shop.switch_on("points_expiring")
    customer = shop.customer()
    shop.points(customer, 100, clock.now() + timedelta(days=3))
    shop.points(customer, 100, clock.now() - timedelta(seconds=1))  # already expired
    with uow_factory() as uow:
        from crm_core import points

        points.spend(uow=uow, customer_id=customer, amount=100, idempotency_key="spend-all")
        uow.commit()
    assert shop.run().total == 0


def test_the_birthday_message_comes_at_midnight_on_the_first_of_the_month_once_a_year(shop, clock):
    shop.switch_on("birthday")
    december = shop.customer("12月生まれ", birth_month=12)
    shop.customer("誕生日なし")
    shop.customer("1月生まれ", birth_month=1)
    first = datetime(2026, 12, 1, 0, 0, tzinfo=TOKYO)

    clock.set(first - timedelta(microseconds=1))
    assert shop.run().total == 0

    clock.set(first)
    assert shop.run().decided["birthday"]["send"] == 1
    assert [(d.customer_id, d.occurrence) for d in shop.decisions()] == [(december, "birthday:2026")]
    assert "お誕生日おめでとうございます" in str(shop.outbox()[0].messages)

    clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=TOKYO))
    assert shop.run().total == 0
    clock.set(datetime(2027, 12, 1, 9, 0, tzinfo=TOKYO))
    assert shop.run().decided["birthday"]["send"] == 1
