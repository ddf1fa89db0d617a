"""Replenishment reminders and recommendations from purchase history, refreshed nightly."""

from __future__ import annotations

from datetime import timedelta

from crm_core.models import ProductPair, RepurchaseInterval


def _every(shop, customer_id, sku, *, days: int, times: int, last_ago: timedelta):
    last = shop.clock.now() - last_ago
    for n in reversed(range(times)):
        shop.buy(customer_id, last - timedelta(days=days * n), sku)


def test_a_regular_gets_a_reminder_two_days_before_their_own_interval_runs_out(shop, clock):
    shop.switch_on("replenishment")
    regular = shop.customer("毎月豆")
    _every(shop, regular, "BEAN", days=30, times=5, last_ago=timedelta(days=27))  # due tomorrow
    shop.refresh()
    assert shop.run().total == 0

    clock.advance(days=1)
    report = shop.run()

    assert report.decided["replenishment"]["send"] == 1
    (decision,) = shop.decisions()
    last_day = (clock.now() - timedelta(days=28)).astimezone(shop.services.settings.zone).date()
    assert decision.occurrence == f"replenish:BEAN:{last_day.isoformat()}"
    assert decision.context["own_interval"] is True and decision.context["interval_days"] == 30
    text = str(shop.outbox()[0].messages)
    assert "ブラジル 200gがそろそろなくなる頃" in text and "いつも30日ごとにご購入" in text
    assert shop.run().total == 0


def test_one_time_buyers_get_the_products_typical_interval_and_no_reminder_after_buying_again(shop, clock):
    shop.switch_on("replenishment")
    for n, days in enumerate((20, 30, 40)):
        _every(shop, shop.customer(f"regular {n}"), "BEAN", days=days, times=3, last_ago=timedelta(days=1))
    once = shop.customer("一度だけ")
    again = shop.customer("買い足し済み")
    stale = shop.customer("ずっと前")
    shop.buy(once, clock.now() - timedelta(days=28), "BEAN")
    shop.buy(again, clock.now() - timedelta(days=28), "BEAN")
    shop.buy(stale, clock.now() - timedelta(days=40), "BEAN")
    report = shop.refresh()
    assert report.products_with_interval == 1
    with shop.uow_factory() as uow:
        typical = uow.session.get(RepurchaseInterval, 1)
        assert (typical.customer_id, typical.sku, typical.interval_days, typical.purchases) == (None, "BEAN", 30, 3)
    shop.buy(again, clock.now() - timedelta(hours=1), "BEAN")  # after the nightly refresh

    shop.run()

    assert shop.outcomes("replenishment") == {once: ("send", None)}
    assert "多くのお客様が30日ほどで買い足されています" in str(shop.outbox()[0].messages)


def test_recommendations_come_a_few_days_after_a_purchase_with_their_reasons(shop, clock):
    shop.switch_on("recommendations")
    long_ago = clock.now() - timedelta(days=60)
    for n in range(3):
        shop.buy(shop.customer(f"cake lover {n}"), long_ago, "BEAN", "CAKE")
    for n in range(2):
        shop.buy(shop.customer(f"mug lover {n}"), long_ago, "BEAN", "MUG", "P1")
    target = shop.customer("Taro", language="en")
    shop.buy(target, clock.now() - timedelta(days=20), "P1")  # bought recently: never offered
    shop.buy(target, clock.now() - timedelta(days=2, hours=23), "BEAN")
    shop.refresh()
    with shop.uow_factory() as uow:
        assert uow.session.get(ProductPair, ("BEAN", "CAKE")).rank == 1

    assert shop.run().total == 0  # not yet three days
    clock.advance(hours=1)
    shop.run()

    (decision,) = shop.decisions("recommendations")
    assert decision.outcome == "send"
    assert [(i["sku"], i["because_sku"]) for i in decision.context["items"]] == [("CAKE", "BEAN"), ("MUG", "BEAN")]
    text = str(shop.outbox()[0].messages)
    assert "Because you bought ブラジル 200g" in text and "Product 1" not in text
    assert text.index("チーズケーキ") < text.index("マグカップ")

    clock.advance(days=1)
    assert shop.run().total == 0


def test_nothing_to_recommend_is_recorded_as_such(shop, clock):
    shop.switch_on("recommendations")
    lonely = shop.customer()
    shop.buy(lonely, clock.now() - timedelta(days=4), "P9")
    shop.refresh()
    shop.run()
    assert shop.outcomes("recommendations") == {lonely: ("skipped", "no_match")}
    assert shop.outbox() == []
