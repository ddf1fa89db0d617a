"""One set-based query per automation: the customers it is due for now and has not decided yet.

Each query returns one row per (customer, occurrence) with what deciding needs (LINE identity,
consent, opt-out, recorded hold-out group) and what the message needs (name, product, points...).
The anti-join on automation_decisions makes a second run find nothing already decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select

from crm_core.models import (
    AutomationDecision,
    AutomationHoldout,
    Booking,
    BookingMenu,
    ChannelIdentity,
    Customer,
    PointLot,
    Product,
    Purchase,
    PurchaseItem,
    RepurchaseInterval,
    ReservationSettings,
    Store,
)

C = Customer.__table__
I = ChannelIdentity.__table__  # noqa: E741
H = AutomationHoldout.__table__
D = AutomationDecision.__table__
P = Purchase.__table__
PI = PurchaseItem.__table__
R = RepurchaseInterval.__table__
L = PointLot.__table__
S = Store.__table__
PR = Product.__table__
BK = Booking.__table__
BM = BookingMenu.__table__
RS = ReservationSettings.__table__

FIRST_PURCHASE_WINDOW = timedelta(days=3)  # no thank-you for a first purchase older than this
REPLENISH_STALE = timedelta(days=9)  # a reminder not sent within this after its due day is not sent
RECOMMEND_AFTER = timedelta(days=3)  # recommendations come this long after the latest purchase...
RECOMMEND_UNTIL = timedelta(days=10)  # ...and no longer once it is this old
RECENT = timedelta(days=30)  # never recommend what the customer bought within this
POINTS_NOTICE = timedelta(days=7)
REMINDER_AHEAD = timedelta(days=7)  # a booking's reminder is decided (and queued) up to this long before it goes


@dataclass(frozen=True)
class Moment:
    """When deciding: now (UTC), the shop's zone and its business day."""

    now: datetime
    zone: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()


def _customer_columns():
    """Who the row is for; their standing as flags (a campaign reads a hundred thousand rows: no timestamps)."""
    return (
        C.c.id.label("customer_id"),
        C.c.name,
        C.c.locale,
        (C.c.consented_at.is_not(None) | I.c.consented_at.is_not(None)).label("consented"),
        C.c.marketing_opt_out,
        I.c.address,
        I.c.language,
        (I.c.blocked_at.is_not(None) | ~func.coalesce(I.c.followed, False)).label("blocked"),
        H.c.in_holdout,
    )


def _with_customer(source, customer_id_column, key: str):
    """`source` joined with its customer (not erased), their LINE identity and their hold-out group."""
    customers = C if source is None else source.join(C, C.c.id == customer_id_column)
    return customers.outerjoin(I, and_(I.c.customer_id == C.c.id, I.c.channel == "line")).outerjoin(
        H, and_(H.c.automation == key, H.c.customer_id == C.c.id)
    )


def _undecided(key: str, occurrence):
    return ~exists().where(D.c.automation == key, D.c.customer_id == C.c.id, D.c.occurrence == occurrence)


def _only(query, customer_ids):
    """Never an erased customer; only `customer_ids` when given."""
    query = query.where(C.c.erased_at.is_(None))
    return query if customer_ids is None else query.where(C.c.id.in_(list(customer_ids)))


def first_purchase(key: str, at: Moment, customer_ids=None):
    """Customers whose first purchase was recorded within the last few days (not refunded in full)."""
    earlier = P.alias("earlier")
    occurrence = literal("purchase:") + cast(P.c.id, String)
    query = (
        select(*_customer_columns(), P.c.id.label("purchase_id"), S.c.name.label("store"), occurrence.label("occ"))
        .select_from(_with_customer(P.join(S, S.c.id == P.c.store_id), P.c.customer_id, key))
        .where(P.c.occurred_at > at.now - FIRST_PURCHASE_WINDOW, P.c.occurred_at <= at.now)
        .where(or_(P.c.total == 0, P.c.refunded_total < P.c.total))
        .where(
            ~exists().where(
                earlier.c.customer_id == P.c.customer_id,
                or_(
                    earlier.c.occurred_at < P.c.occurred_at,
                    and_(earlier.c.occurred_at == P.c.occurred_at, earlier.c.id < P.c.id),
                ),
            )
        )
        .where(_undecided(key, occurrence))
        .order_by(C.c.id)
    )
    return _only(query, customer_ids)


def replenishment(key: str, at: Moment, customer_ids=None):
    """(customer, product) pairs whose reminder day has come, not stale, not bought again since."""
    occurrence = literal("replenish:") + R.c.sku + literal(":") + cast(R.c.last_purchased_on, String)
    again = (
        exists()
        .select_from(PI.join(P, P.c.id == PI.c.purchase_id))
        .where(P.c.customer_id == R.c.customer_id, PI.c.sku == R.c.sku, P.c.occurred_at > R.c.last_purchased_at)
    )
    query = (
        select(
            *_customer_columns(),
            R.c.sku,
            PR.c.name.label("product"),
            R.c.interval_days,
            R.c.own,
            R.c.last_purchased_on,
            occurrence.label("occ"),
        )
        .select_from(_with_customer(R.outerjoin(PR, PR.c.sku == R.c.sku), R.c.customer_id, key))
        .where(R.c.customer_id.is_not(None), R.c.due_on <= at.today, R.c.due_on > at.today - REPLENISH_STALE)
        .where(~again)
        .where(_undecided(key, occurrence))
        .order_by(C.c.id, R.c.due_on, R.c.sku)
    )
    return _only(query, customer_ids)


def recommendations(key: str, at: Moment, customer_ids=None):
    """Customers whose latest purchase is a few days old (the products are chosen in Python)."""
    later = P.alias("later")
    occurrence = literal("recs:") + cast(P.c.id, String)
    query = (
        select(*_customer_columns(), P.c.id.label("purchase_id"), occurrence.label("occ"))
        .select_from(_with_customer(P, P.c.customer_id, key))
        .where(P.c.occurred_at <= at.now - RECOMMEND_AFTER, P.c.occurred_at > at.now - RECOMMEND_UNTIL)
        .where(
            ~exists().where(
                later.c.customer_id == P.c.customer_id,
                or_(
                    later.c.occurred_at > P.c.occurred_at,
                    and_(later.c.occurred_at == P.c.occurred_at, later.c.id > P.c.id),
                ),
            )
        )
        .where(_undecided(key, occurrence))
        .order_by(C.c.id)
    )
    return _only(query, customer_ids)


def recent_items(at: Moment):
    """(customer_id, purchase_id, sku) of every purchase made recently (what not to recommend)."""
    return (
        select(P.c.customer_id, P.c.id, PI.c.sku)
        .select_from(P.join(PI, PI.c.purchase_id == P.c.id))
        .where(P.c.occurred_at > at.now - RECENT - RECOMMEND_UNTIL)
    )


def points_expiring(key: str, at: Moment, customer_ids=None):
    """Customers with points that expire within 7 days, per expiry instant (grouped by day in Python).

    Already-decided occurrences are filtered in Python (the expiry day is a business-time date).
    """
    lots = (
        select(L.c.customer_id, L.c.expires_at, func.sum(L.c.remaining).label("points"))
        .where(L.c.remaining > 0, L.c.expires_at > at.now, L.c.expires_at <= at.now + POINTS_NOTICE)
        .group_by(L.c.customer_id, L.c.expires_at)
        .subquery()
    )
    query = (
        select(*_customer_columns(), lots.c.expires_at, lots.c.points)
        .select_from(_with_customer(lots, lots.c.customer_id, key))
        .order_by(C.c.id, lots.c.expires_at)
    )
    return _only(query, customer_ids)


def decided_points(key: str, at: Moment):
    """Occurrences of the points warning decided recently enough to still be due."""
    return select(D.c.customer_id, D.c.occurrence).where(
        D.c.automation == key, D.c.decided_at > at.now - POINTS_NOTICE - timedelta(days=2)
    )


def birthday(key: str, at: Moment, customer_ids=None):
    """Customers whose birthday month it is (business time), not yet congratulated this year."""
    occurrence = literal(f"birthday:{at.today.year}")
    query = (
        select(*_customer_columns(), C.c.birth_month, occurrence.label("occ"))
        .select_from(_with_customer(None, None, key))
        .where(C.c.birth_month == at.today.month)
        .where(_undecided(key, occurrence))
        .order_by(C.c.id)
    )
    return _only(query, customer_ids)


FLOW_EVENT_WINDOW = timedelta(days=3)  # an event (joining, the Nth purchase) older than this no longer triggers
FLOW_EVENT_TRIGGERS = ("member_joined", "nth_purchase")  # the triggers with such a window


def coupon_flow(key: str, flow, at: Moment, audience=None, customer_ids=None):
    """The customers a coupon flow's trigger fires for now, with the occurrence that fires (one decision each).

    `flow`: a CouponFlow; `audience`: a SELECT of customer ids (its segment) or None for everyone. Events are
    those within FLOW_EVENT_WINDOW and not before the flow's first day.
    """
    from crm_core.models import PointAccount  # noqa: PLC0415 (only flows read balances)

    params, trigger = flow.params or {}, flow.trigger
    since = at.now - FLOW_EVENT_WINDOW
    if flow.starts_on is not None:
        since = max(since, datetime.combine(flow.starts_on, datetime.min.time(), tzinfo=at.zone))
    kept = or_(P.c.total == 0, P.c.refunded_total < P.c.total)
    source, customer_id, extra = None, None, ()
    if trigger == "member_joined":
        occurrence = literal("joined")
        where = [C.c.created_at >= since, C.c.created_at <= at.now]
    elif trigger == "nth_purchase":
        n = int(params["n"])
        ranked = (
            select(
                P.c.customer_id,
                P.c.occurred_at,
                func.row_number().over(partition_by=P.c.customer_id, order_by=(P.c.occurred_at, P.c.id)).label("nth"),
            )
            .where(kept, P.c.customer_id.in_(select(P.c.customer_id).where(P.c.occurred_at >= since, kept)))
            .subquery()
        )
        source, customer_id = ranked, ranked.c.customer_id
        occurrence = literal(f"purchase:{n}")
        where = [ranked.c.nth == n, ranked.c.occurred_at >= since, ranked.c.occurred_at <= at.now]
    elif trigger == "birthday_month":
        occurrence = literal(f"birthday:{at.today.year}")
        where = [C.c.birth_month == at.today.month]
    elif trigger == "lapsed":
        days = int(params["days"])
        latest = (
            select(
                P.c.customer_id,
                P.c.id,
                P.c.occurred_at,
                func.row_number()
                .over(partition_by=P.c.customer_id, order_by=(P.c.occurred_at.desc(), P.c.id.desc()))
                .label("back"),
            )
            .where(kept)
            .subquery()
        )
        cutoff = datetime.combine(at.today - timedelta(days=days - 1), datetime.min.time(), tzinfo=at.zone)
        source, customer_id = latest, latest.c.customer_id
        # once per lapse: the occurrence names the last purchase (a new purchase, then a new lapse, fires again)
        occurrence = literal("lapse:") + cast(latest.c.id, String)
        where = [latest.c.back == 1, latest.c.occurred_at < cutoff]
    elif trigger == "points_threshold":
        points = int(params["points"])
        A = PointAccount.__table__  # noqa: N806
        source, customer_id = A, A.c.customer_id
        occurrence = literal(f"points:{points}")
        where = [A.c.balance >= points]
    elif trigger == "tier_reached":
        occurrence = literal(f"tier:{params['tier']}")
        where = [C.c.tier == params["tier"]]
    elif trigger == "scheduled":
        on = params.get("on")
        day_of_month = params.get("day_of_month")
        due = (on is not None and at.today.isoformat() == on) or (day_of_month == at.today.day)
        occurrence = literal(f"date:{at.today.isoformat()}")
        where = [literal(bool(due))]
    else:
        raise ValueError(f"unknown trigger {trigger!r}")
    query = select(*_customer_columns(), *extra, occurrence.label("occ")).select_from(
        _with_customer(source, customer_id, key)
    )
    query = query.where(*where, _undecided(key, occurrence)).order_by(C.c.id)
    if audience is not None:
        query = query.where(C.c.id.in_(audience))
    return _only(query, customer_ids)


def booking_reminders(key: str, at: Moment, customer_ids=None) -> list:
    """Two queries (18:00 the day before, two hours before): booked bookings whose reminder goes within
    REMINDER_AHEAD and whose start is still ahead; the day-before one no longer once the two-hour one is due."""
    queries = []
    for name, remind_at in (("eve", BK.c.remind_eve_at), ("soon", BK.c.remind_soon_at)):
        occurrence = cast(BK.c.id, String) + literal(f":{name}")
        source = BK.join(S, S.c.id == BK.c.store_id).join(BM, BM.c.id == BK.c.menu_id)
        query = (
            select(
                *_customer_columns(),
                BK.c.id.label("booking_id"),
                BK.c.starts_at,
                remind_at.label("remind_at"),
                S.c.name.label("store"),
                BM.c.name.label("menu"),
                RS.c.time_zone,
                occurrence.label("occ"),
            )
            .select_from(_with_customer(source.outerjoin(RS, RS.c.store_id == BK.c.store_id), BK.c.customer_id, key))
            .where(BK.c.status == "booked", BK.c.starts_at > at.now)
            .where(remind_at.is_not(None), remind_at <= at.now + REMINDER_AHEAD)
            .where(_undecided(key, occurrence))
            .order_by(C.c.id)
        )
        if name == "eve":
            query = query.where(or_(BK.c.remind_soon_at.is_(None), BK.c.remind_soon_at > at.now))
        queries.append(_only(query, customer_ids))
    return queries
