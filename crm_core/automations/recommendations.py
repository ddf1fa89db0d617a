"""The nightly models behind the automations, recomputed from purchase history (`recommendations.refresh`).

- Product pairs: item-to-item co-occurrence. Two products score one point for every customer who
  bought both within the last year; each product keeps its best PAIRS_KEPT others (ties: by sku).
- Repurchase intervals: a customer's own interval for a product is the median gap between the
  business days they bought it (2 purchases or more); a product's typical interval is the median of
  its buyers' own intervals (MIN_BUYERS of them or more). A customer's row also says when the
  reminder is due: REMIND_BEFORE days before the product probably runs out.

Both are deterministic for a given history: same purchases, same rows (medians are the lower one;
skus are ordered by code point). Both are computed in the database, PostgreSQL or SQLite: one
INSERT ... SELECT each, with window functions, so no purchase row travels to Python. Business days are
the shop's (`timezone(zone, occurred_at)` on PostgreSQL, `crm_core.db.sqlite_local_date` on SQLite).
tests/integration/automations/test_recommendations_refresh.py keeps the plain-Python statement of
these rules and checks the SQL against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    and_,
    bindparam,
    cast,
    delete,
    false,
    func,
    insert,
    null,
    or_,
    select,
    text,
    union_all,
)

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

P = Purchase.__table__
PI = PurchaseItem.__table__
PAIRS = ProductPair.__table__
INTERVALS = RepurchaseInterval.__table__


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


def refresh(*, uow: UnitOfWork, zone: ZoneInfo) -> RefreshReport:
    """Recompute product pairs and repurchase intervals from purchase history (the caller commits)."""
    session = uow.session
    now = uow.now()
    sql = _Dialect(session.get_bind().dialect.name, zone)
    if sql.postgresql:  # sorts and hashes of the whole history: in memory rather than in temporary files
        session.execute(text("SET LOCAL work_mem = '128MB'"))
    session.execute(delete(PAIRS))
    session.execute(delete(INTERVALS))
    session.execute(insert(PAIRS).from_select(["sku", "other_sku", "score", "rank"], _pairs(sql, now)))
    today = now.astimezone(zone).date()
    session.execute(insert(INTERVALS).from_select(_INTERVAL_COLUMNS, _intervals(sql, now, today)))
    typical = INTERVALS.c.customer_id.is_(None)
    return RefreshReport(
        pairs=session.scalar(select(func.count()).select_from(PAIRS)),
        products_with_interval=session.scalar(select(func.count()).where(typical)),
        customer_intervals=session.scalar(select(func.count()).where(~typical)),
    )


class _Dialect:
    """The few expressions PostgreSQL and SQLite spell differently: local dates, day arithmetic, sku order."""

    def __init__(self, name: str, zone: ZoneInfo):
        self.postgresql = name == "postgresql"
        self.zone = bindparam("zone", zone.key)

    def local_date(self, moment):
        """The business day (shop zone) of a stored UTC timestamp (SQLite: crm_core.db.sqlite_local_date)."""
        if self.postgresql:
            return cast(func.timezone(self.zone, moment), Date)
        return func.kizuna_local_date(moment, self.zone)

    def days_between(self, later, earlier):
        """Whole days from one date to a later one."""
        if self.postgresql:
            return later - earlier
        return cast(func.julianday(later) - func.julianday(earlier), Integer)

    def plus_days(self, day, days):
        """The date `days` after `day`."""
        if self.postgresql:
            return day + days
        return func.date(func.julianday(day) + days)

    def mostly_true(self, condition):
        """A condition most rows pass: SQLite then reads the tables through instead of through an index for it."""
        return condition if self.postgresql else func.likely(condition)

    def by_code_point(self, sku):
        """Order skus as Python does (PostgreSQL's default collation may be a language's; SQLite's is BINARY)."""
        return sku.collate("C") if self.postgresql else sku


def _items(sql: _Dialect, since: datetime, now: datetime):
    """(customer_id, sku, occurred_at) of the items bought in (since, now], the purchase not refunded in full.

    The sku compares by code point from here on: the order wanted, and cheaper to sort and compare.
    """
    return (
        select(P.c.customer_id, sql.by_code_point(PI.c.sku).label("sku"), P.c.occurred_at)
        .select_from(P.join(PI, PI.c.purchase_id == P.c.id))
        .where(sql.mostly_true(P.c.occurred_at > since), sql.mostly_true(P.c.occurred_at <= now))
        .where(or_(P.c.total == 0, P.c.refunded_total < P.c.total))
    )


def _pairs(sql: _Dialect, now: datetime):
    """Product pair rows: score = customers who bought both in the last year; each sku's best PAIRS_KEPT.

    Each unordered pair is counted once (the self-join on sku < other) and then written both ways.
    """
    items = _items(sql, now - HISTORY, now).subquery()
    basket = select(items.c.customer_id, items.c.sku).distinct().cte("basket")
    mine, theirs = basket.alias("mine"), basket.alias("theirs")
    together = (
        select(mine.c.sku, theirs.c.sku.label("other_sku"), func.count().label("score"))
        .select_from(mine.join(theirs, and_(theirs.c.customer_id == mine.c.customer_id, theirs.c.sku > mine.c.sku)))
        .group_by(mine.c.sku, theirs.c.sku)
        .having(func.count() >= MIN_SUPPORT)
        .cte("together")
    )
    both_ways = union_all(
        select(together.c.sku, together.c.other_sku, together.c.score),
        select(together.c.other_sku, together.c.sku, together.c.score),
    ).subquery("both_ways")
    rank = func.row_number().over(
        partition_by=both_ways.c.sku, order_by=(both_ways.c.score.desc(), sql.by_code_point(both_ways.c.other_sku))
    )
    ranked = select(both_ways, rank.label("rank")).subquery("ranked")
    return select(ranked.c.sku, ranked.c.other_sku, ranked.c.score, ranked.c.rank).where(ranked.c.rank <= PAIRS_KEPT)


_INTERVAL_COLUMNS = [
    "customer_id",
    "sku",
    "interval_days",
    "purchases",
    "own",
    "last_purchased_at",
    "last_purchased_on",
    "due_on",
]


def _intervals(sql: _Dialect, now: datetime, today: date):
    """Repurchase interval rows: each product's typical interval (sku order), then customers' (customer, sku order).

    A customer without an own interval gets the product's typical one; intervals outside
    MIN..MAX_INTERVAL_DAYS and reminders long past (stale by today's business day) are left out.
    """
    gaps = _gaps(sql, now)
    own = _own_intervals(gaps)
    typical = _typical_intervals(own)
    last = gaps.alias("last")  # each customer's latest purchase of the product
    interval = func.coalesce(own.c.interval_days, typical.c.interval_days)
    due_on = sql.plus_days(last.c.day, interval - REMIND_BEFORE.days)
    stale = bindparam("stale", today - REPLENISH_STALE, type_=Date)
    customers = (
        select(
            last.c.customer_id,
            last.c.sku,
            interval.label("interval_days"),
            func.coalesce(own.c.purchases, 1).label("purchases"),
            own.c.interval_days.is_not(None).label("own"),
            last.c.occurred_at.label("last_purchased_at"),
            last.c.day.label("last_purchased_on"),
            due_on.label("due_on"),
        )
        .select_from(
            last.outerjoin(own, and_(own.c.customer_id == last.c.customer_id, own.c.sku == last.c.sku)).outerjoin(
                typical, typical.c.sku == last.c.sku
            )
        )
        .where(last.c.nth_latest == 1)
        .where(interval.between(MIN_INTERVAL_DAYS, MAX_INTERVAL_DAYS), due_on > stale)
    )
    products = select(
        cast(null(), Integer).label("customer_id"),
        typical.c.sku,
        typical.c.interval_days,
        typical.c.buyers.label("purchases"),
        false().label("own"),
        cast(null(), DateTime(timezone=True)).label("last_purchased_at"),
        cast(null(), Date).label("last_purchased_on"),
        cast(null(), Date).label("due_on"),
    )
    rows = union_all(products, customers).subquery("rows")  # ids given in this order: the products' first
    return select(*(rows.c[name] for name in _INTERVAL_COLUMNS)).order_by(
        rows.c.customer_id.nulls_first(), sql.by_code_point(rows.c.sku)
    )


def _gaps(sql: _Dialect, now: datetime):
    """Every item bought in the last two years, latest first per customer and product, with its business
    day, the gap in days to the next later one (0: the same day again; none: the latest) and `nth_latest`."""
    items = _items(sql, now - INTERVAL_HISTORY, now).subquery()
    day = sql.local_date(items.c.occurred_at)
    bought = select(items.c.customer_id, items.c.sku, items.c.occurred_at, day.label("day")).subquery("bought")
    latest_first = {"partition_by": (bought.c.customer_id, bought.c.sku), "order_by": bought.c.occurred_at.desc()}
    return select(
        bought,
        sql.days_between(func.lag(bought.c.day).over(**latest_first), bought.c.day).label("gap"),
        func.row_number().over(**latest_first).label("nth_latest"),
    ).cte("gaps")


def _own_intervals(gaps):
    """A customer's own interval for a product: the lower median of the gaps between the distinct days they
    bought it on, when there are two days or more; `purchases` is how many days.

    The lower median of n gaps is the ((n + 1) // 2)-th smallest, as statistics.median_low picks it.
    """
    each = {"partition_by": (gaps.c.customer_id, gaps.c.sku)}
    ranked = (
        select(
            gaps.c.customer_id,
            gaps.c.sku,
            gaps.c.gap,
            func.row_number().over(**each, order_by=gaps.c.gap).label("k"),
            func.count().over(**each).label("n"),
        )
        .where(gaps.c.gap > 0)
        .subquery("ranked_gaps")
    )
    return (
        select(
            ranked.c.customer_id,
            ranked.c.sku,
            ranked.c.gap.label("interval_days"),
            (ranked.c.n + 1).label("purchases"),
        )
        .where(ranked.c.k == (ranked.c.n + 1) // 2)
        .cte("own")
    )


def _typical_intervals(own):
    """A product's typical interval: the lower median of its buyers' own intervals (MIN_BUYERS or more)."""
    ranked = select(
        own.c.sku,
        own.c.interval_days,
        func.row_number().over(partition_by=own.c.sku, order_by=own.c.interval_days).label("k"),
        func.count().over(partition_by=own.c.sku).label("buyers"),
    ).subquery("per_product")
    return (
        select(ranked.c.sku, ranked.c.interval_days, ranked.c.buyers)
        .where(ranked.c.k == (ranked.c.buyers + 1) // 2, ranked.c.buyers >= MIN_BUYERS)
        .cte("typical")
    )
