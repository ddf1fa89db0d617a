"""The nightly models behind the automations, recomputed from purchase history (`recommendations.refresh`).

- Product pairs: item-to-item co-occurrence. Two products score one point for every customer who
  bought both within the last year; each product keeps its best PAIRS_KEPT others (ties: by sku).
- Repurchase intervals: a customer's own interval for a product is the median gap between the
  business days they bought it (2 purchases or more); a product's typical interval is the median of
  its buyers' own intervals (MIN_BUYERS of them or more). A customer's row also says when the
  reminder is due: REMIND_BEFORE days before the product probably runs out.

Both are deterministic for a given history: same purchases, same rows.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, or_, select

from crm_core.automations.candidates import REPLENISH_STALE
from crm_core.models import ProductPair, Purchase, PurchaseItem, RepurchaseInterval
from crm_core.uow import UnitOfWork

HISTORY = timedelta(days=365)  # pairs: the last year of baskets
INTERVAL_HISTORY = timedelta(days=730)  # intervals: two years
PAIRS_KEPT = 20
MIN_SUPPORT = 2  # a pair needs this many customers who bought both
MIN_BUYERS = 3  # a product's typical interval needs this many customers with their own
MIN_INTERVAL_DAYS, MAX_INTERVAL_DAYS = 3, 180  # shorter or longer is not "running out"
REMIND_BEFORE = timedelta(days=2)
BATCH = 10_000

P = Purchase.__table__
PI = PurchaseItem.__table__


@dataclass(frozen=True)
class RefreshReport:
    pairs: int
    products_with_interval: int
    customer_intervals: int

    def summary(self) -> str:
        return (
            f"{self.pairs} product pair(s), typical interval for {self.products_with_interval} product(s), "
            f"{self.customer_intervals} customer reminder(s) scheduled"
        )


def _history(uow: UnitOfWork, since):
    """(customer_id, sku, occurred_at) of purchases since `since`, not refunded in full, in a stable order."""
    return uow.session.execute(
        select(P.c.customer_id, PI.c.sku, P.c.occurred_at)
        .select_from(P.join(PI, PI.c.purchase_id == P.c.id))
        .where(P.c.occurred_at > since, P.c.occurred_at <= uow.now())
        .where(or_(P.c.total == 0, P.c.refunded_total < P.c.total))
        .order_by(P.c.customer_id, PI.c.sku, P.c.occurred_at)
    )


def product_pairs(baskets: dict[int, set[str]]) -> list[dict]:
    """Pair rows from each customer's set of products: score = customers who bought both."""
    counts: Counter = Counter()
    for skus in baskets.values():
        if len(skus) > 1:
            counts.update(permutations(sorted(skus), 2))
    by_sku = defaultdict(list)
    for (sku, other), score in counts.items():
        if score >= MIN_SUPPORT:
            by_sku[sku].append((other, score))
    rows = []
    for sku in sorted(by_sku):
        ranked = sorted(by_sku[sku], key=lambda pair: (-pair[1], pair[0]))[:PAIRS_KEPT]
        rows += [
            {"sku": sku, "other_sku": other, "score": score, "rank": rank}
            for rank, (other, score) in enumerate(ranked, 1)
        ]
    return rows


def own_interval(days: list[date]) -> int | None:
    """The median gap in days between distinct purchase days (None with fewer than 2 days)."""
    if len(days) < 2:
        return None
    gaps = [(b - a).days for a, b in zip(days, days[1:], strict=False)]
    return int(statistics.median_low(gaps))


def refresh(*, uow: UnitOfWork, zone: ZoneInfo) -> RefreshReport:
    """Recompute product pairs and repurchase intervals from purchase history (the caller commits)."""
    now = uow.now()
    today = now.astimezone(zone).date()
    baskets: dict[int, set[str]] = defaultdict(set)
    days: dict[tuple[int, str], list[date]] = {}
    last_at = {}
    pair_since = now - HISTORY
    for customer_id, sku, occurred_at in _history(uow, now - INTERVAL_HISTORY):
        if occurred_at > pair_since:
            baskets[customer_id].add(sku)
        day = occurred_at.astimezone(zone).date()
        seen = days.setdefault((customer_id, sku), [])
        if not seen or seen[-1] != day:
            seen.append(day)
        last_at[(customer_id, sku)] = occurred_at
    pairs = product_pairs(baskets)

    own = {key: own_interval(seen) for key, seen in days.items()}
    by_product = defaultdict(list)
    for (_, sku), interval in own.items():
        if interval is not None:
            by_product[sku].append(interval)
    typical = {
        sku: (int(statistics.median_low(intervals)), len(intervals))
        for sku, intervals in by_product.items()
        if len(intervals) >= MIN_BUYERS
    }
    intervals = [
        {
            "customer_id": None,
            "sku": sku,
            "interval_days": interval,
            "purchases": buyers,
            "own": False,
            "last_purchased_at": None,
            "last_purchased_on": None,
            "due_on": None,
        }
        for sku, (interval, buyers) in sorted(typical.items())
    ]
    for (customer_id, sku), seen in sorted(days.items()):
        interval = own[(customer_id, sku)]
        mine = interval is not None
        if not mine and sku in typical:
            interval = typical[sku][0]
        if interval is None or not MIN_INTERVAL_DAYS <= interval <= MAX_INTERVAL_DAYS:
            continue
        due_on = seen[-1] + timedelta(days=interval) - REMIND_BEFORE
        if due_on <= today - REPLENISH_STALE:
            continue  # long past: no reminder until they buy it again
        intervals.append(
            {
                "customer_id": customer_id,
                "sku": sku,
                "interval_days": interval,
                "purchases": len(seen),
                "own": mine,
                "last_purchased_at": last_at[(customer_id, sku)],
                "last_purchased_on": seen[-1],
                "due_on": due_on,
            }
        )
    session = uow.session
    session.execute(delete(ProductPair))
    session.execute(delete(RepurchaseInterval))
    for table, rows in ((ProductPair.__table__, pairs), (RepurchaseInterval.__table__, intervals)):
        for start in range(0, len(rows), BATCH):
            session.execute(insert(table), rows[start : start + BATCH])
    return RefreshReport(
        pairs=len(pairs),
        products_with_interval=len(typical),
        customer_intervals=len(intervals) - len(typical),
    )
