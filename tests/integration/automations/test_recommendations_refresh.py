"""The nightly refresh on a varied, seeded history gives exactly what a plain-Python reference gives.

The reference below is the original all-Python `recommendations.refresh` (kept here, not in the
product, so the SQL version is checked against an independent, readable statement of the rules).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from crm_core.automations import recommendations
from crm_core.automations.candidates import REPLENISH_STALE
from crm_core.models import Customer, ProductPair, Purchase, PurchaseItem, RepurchaseInterval, Store

# Mixed case, punctuation and non-ASCII: code-point order differs from a locale's order for these.
SKUS = [
    "BEAN",
    "bean",
    "Bean-2",
    "B_1",
    "B-1",
    "CAKE",
    "cake",
    "MUG",
    "é-tea",
    "Éclair",
    "コーヒー",
    "紅茶",
    "Z9",
    "a1",
]
SKUS += [f"P{n:02d}" for n in range(1, 47)]


def _history(rng: random.Random, now: datetime, zone: ZoneInfo):
    """Customers' purchases over a bit more than 2 years: (customer_id, sku list, occurred_at, total, refunded)."""
    weights = [1 / (n + 1) for n in range(len(SKUS))]  # a few popular products: many ties and >20 partners
    purchases = []

    def near_midnight(moment: datetime) -> datetime:
        local_day = moment.astimezone(zone).date()
        midnight = datetime.combine(local_day, time(0, 0), tzinfo=zone).astimezone(UTC)
        return midnight + timedelta(minutes=rng.randint(-45, 45), microseconds=rng.randint(0, 999_999))

    for customer_id in range(1, 301):
        regular = rng.sample(SKUS[:12], rng.randint(0, 2))
        gap = rng.choice([1, 2, 3, 7, 14, 30, 45, 90, 200])
        start = now - timedelta(days=rng.randint(0, 800), seconds=rng.randint(0, 86_399))
        for n in range(rng.randint(0, 12)):
            moment = start + timedelta(days=n * gap + rng.randint(0, max(gap // 4, 0)), hours=rng.randint(-6, 6))
            moment += timedelta(microseconds=rng.randint(0, 999_999))
            if rng.random() < 0.25:
                moment = near_midnight(moment)
            basket = [*regular, *rng.choices(SKUS, weights, k=rng.randint(0, 3))]
            if rng.random() < 0.1:
                basket.append(basket[0] if basket else SKUS[0])  # the same product twice in one purchase
            total = 0 if rng.random() < 0.05 else 1000
            refunded = min(rng.choice([0, 0, 0, 0, 0, 300, total]), total)  # some refunded in part, some in full
            purchases.append((customer_id, basket, moment, total, refunded))
            if rng.random() < 0.15:  # again the same day (or, near midnight, maybe the next local day)
                later = moment + timedelta(hours=rng.choice([1, 2, 5]))
                purchases.append((customer_id, rng.choices(SKUS, weights, k=2), later, 1000, 0))
    for customer_id, moment in (  # on the edges of the windows
        (1, now),
        (1, now + timedelta(seconds=1)),
        (2, now - recommendations.HISTORY),
        (2, now - recommendations.HISTORY + timedelta(microseconds=1)),
        (3, now - recommendations.INTERVAL_HISTORY),
        (3, now - recommendations.INTERVAL_HISTORY + timedelta(microseconds=1)),
    ):
        purchases.append((customer_id, ["BEAN", "CAKE"], moment, 1000, 0))
    return purchases


def _reference(purchases, now: datetime, zone: ZoneInfo):
    """Pairs, interval rows (in id order) and the report figures, by the original Python algorithm."""
    rows = sorted(
        (customer_id, sku, occurred_at)
        for customer_id, skus, occurred_at, total, refunded in purchases
        for sku in skus
        if now - recommendations.INTERVAL_HISTORY < occurred_at <= now and (total == 0 or refunded < total)
    )
    today = now.astimezone(zone).date()
    baskets, days, last_at = defaultdict(set), {}, {}
    for customer_id, sku, occurred_at in rows:
        if occurred_at > now - recommendations.HISTORY:
            baskets[customer_id].add(sku)
        day = occurred_at.astimezone(zone).date()
        seen = days.setdefault((customer_id, sku), [])
        if not seen or seen[-1] != day:
            seen.append(day)
        last_at[(customer_id, sku)] = occurred_at

    counts = Counter()
    for skus in baskets.values():
        counts.update(permutations(sorted(skus), 2))
    by_sku = defaultdict(list)
    for (sku, other), score in counts.items():
        if score >= recommendations.MIN_SUPPORT:
            by_sku[sku].append((other, score))
    pairs = []
    for sku in sorted(by_sku):
        ranked = sorted(by_sku[sku], key=lambda pair: (-pair[1], pair[0]))[: recommendations.PAIRS_KEPT]
        pairs += [(sku, other, score, rank) for rank, (other, score) in enumerate(ranked, 1)]

    def median_gap(seen):
        gaps = [(b - a).days for a, b in zip(seen, seen[1:], strict=False)]
        return statistics.median_low(gaps) if gaps else None

    own = {key: median_gap(seen) for key, seen in days.items()}
    by_product = defaultdict(list)
    for (_, sku), interval in own.items():
        if interval is not None:
            by_product[sku].append(interval)
    typical = {
        sku: (statistics.median_low(found), len(found))
        for sku, found in by_product.items()
        if len(found) >= recommendations.MIN_BUYERS
    }
    intervals = [
        (None, sku, interval, buyers, False, None, None, None) for sku, (interval, buyers) in sorted(typical.items())
    ]
    for (customer_id, sku), seen in sorted(days.items()):
        interval = own[(customer_id, sku)]
        mine = interval is not None
        if not mine and sku in typical:
            interval = typical[sku][0]
        if interval is None or not recommendations.MIN_INTERVAL_DAYS <= interval <= recommendations.MAX_INTERVAL_DAYS:
            continue
        due_on = seen[-1] + timedelta(days=interval) - recommendations.REMIND_BEFORE
        if due_on <= today - REPLENISH_STALE:
            continue
        intervals.append((customer_id, sku, interval, len(seen), mine, last_at[(customer_id, sku)], seen[-1], due_on))
    report = recommendations.RefreshReport(len(pairs), len(typical), len(intervals) - len(typical))
    return pairs, intervals, report


def _store(uow_factory, now: datetime, purchases) -> None:
    with uow_factory() as uow:
        session = uow.session
        session.execute(insert(Store.__table__).values(id=1, code="S", name="店", created_at=now))
        customer_ids = sorted({p[0] for p in purchases})
        session.execute(
            insert(Customer.__table__),
            [
                {"id": i, "member_number": f"M{i}", "name": f"客 {i}", "created_at": now, "updated_at": now}
                for i in customer_ids
            ],
        )
        session.execute(
            insert(Purchase.__table__),
            [
                {
                    "id": n,
                    "external_id": f"R-{n}",
                    "customer_id": customer_id,
                    "store_id": 1,
                    "total": total,
                    "refunded_total": refunded,
                    "occurred_at": occurred_at,
                    "created_at": occurred_at,
                }
                for n, (customer_id, _, occurred_at, total, refunded) in enumerate(purchases, 1)
            ],
        )
        session.execute(
            insert(PurchaseItem.__table__),
            [
                {"purchase_id": n, "sku": sku, "name": sku, "category": "x", "quantity": 1, "unit_price": 1000}
                for n, (_, skus, *_) in enumerate(purchases, 1)
                for sku in skus
            ],
        )
        uow.commit()


def _stored(uow_factory):
    with uow_factory() as uow:
        pairs = sorted(tuple(row) for row in uow.session.execute(select(ProductPair.__table__)))
        R = RepurchaseInterval.__table__
        columns = [c for c in R.c if c.name != "id"]
        intervals = [tuple(row) for row in uow.session.execute(select(*columns).order_by(R.c.id))]
    return pairs, intervals


@pytest.mark.parametrize("zone_name", ["Asia/Tokyo", "America/New_York"])
def test_refresh_gives_exactly_the_rows_of_the_reference_algorithm(uow_factory, clock, zone_name):
    zone = ZoneInfo(zone_name)
    now = clock.now()
    purchases = _history(random.Random(20261122), now, zone)
    _store(uow_factory, now, purchases)
    pairs, intervals, report = _reference(purchases, now, zone)
    # the history is varied enough for the rules to matter (else this test could not fail)
    assert {rank for *_, rank in pairs} >= {1, recommendations.PAIRS_KEPT}
    assert any(score < 3 for _, _, score, _ in pairs) and report.products_with_interval >= 5
    assert {row[4] for row in intervals[report.products_with_interval :]} == {True, False}

    for _ in range(2):  # a second run replaces the rows with the same ones
        with uow_factory() as uow:
            got = recommendations.refresh(uow=uow, zone=zone)
            uow.commit()
        assert got == report
        assert _stored(uow_factory) == (sorted(pairs), intervals)


def test_pairs_count_customers_who_bought_both_and_rank_ties_by_sku(shop):
    baskets = [
        ("BEAN", "CAKE"),
        ("BEAN", "CAKE", "MUG"),
        ("BEAN", "CAKE"),
        ("BEAN", "MUG", "P2"),
        ("BEAN", "P2"),
        ("CAKE", "P1"),  # bought together by one customer only: not enough
    ]
    for n, skus in enumerate(baskets):
        shop.buy(shop.customer(f"客 {n}"), shop.clock.now() - timedelta(days=10 + n), *skus)

    shop.refresh()

    with shop.uow_factory() as uow:
        rows = uow.session.execute(select(ProductPair).order_by(ProductPair.sku, ProductPair.rank)).scalars().all()
        bean = [(r.other_sku, r.score, r.rank) for r in rows if r.sku == "BEAN"]
        assert bean == [("CAKE", 3, 1), ("MUG", 2, 2), ("P2", 2, 3)]  # MUG before P2: same score, by sku
        assert not [r for r in rows if "P1" in (r.sku, r.other_sku)]


def test_a_customers_own_interval_is_the_lower_median_gap_between_purchase_days(shop, clock):
    regular, once = shop.customer("常連"), shop.customer("一度")
    start = clock.now() - timedelta(days=210)
    for days in (0, 30, 58, 90, 200):  # gaps 30, 28, 32, 110: one long pause does not move it
        shop.buy(regular, start + timedelta(days=days), "BEAN")
    shop.buy(regular, start + timedelta(days=200, hours=2), "BEAN")  # the same day again: not a gap of 0
    shop.buy(once, clock.now() - timedelta(days=5), "BEAN")

    report = shop.refresh()

    assert (report.products_with_interval, report.customer_intervals) == (0, 1)  # one buyer with a gap: no typical
    with shop.uow_factory() as uow:
        (row,) = uow.session.execute(select(RepurchaseInterval)).scalars().all()
    last_day = (start + timedelta(days=200)).astimezone(shop.services.settings.zone).date()
    assert (row.customer_id, row.interval_days, row.purchases, row.own) == (regular, 30, 5, True)
    assert (row.last_purchased_on, row.due_on) == (last_day, last_day + timedelta(days=28))
