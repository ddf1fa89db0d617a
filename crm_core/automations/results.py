"""What each automation did, per business day, and whether its messages made anyone buy.

Counts come from `automation_decisions` joined to the outbox row a `send` decision wrote: sent,
waiting (held for quiet hours or LINE's quota, or queued), skipped by reason, cancelled by reason
(the dispatcher's word in `last_error`), failed with LINE's error. Purchases that followed a decision
are those of the same customer within 7 days (`WINDOW`) after it, net of refunds.

The hold-out comparison sets the `send` decisions against the `holdout` decisions of the period
whose 7 days are over (a younger decision has not had its chance to be followed by a purchase yet):
one unit is one decision (a customer and one occurrence, e.g. one first purchase), so "per customer"
below means per customer reached by one decision.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Interval, and_, case, func, literal
from sqlmodel import select

from crm_core import outbox
from crm_core.automations import statistics
from crm_core.automations.statistics import Sample, proportion_difference, welch_difference
from crm_core.models import AutomationDecision, OutboxMessage, Purchase
from crm_core.uow import UnitOfWork

WINDOW = timedelta(days=7)
ERROR_LENGTH = 200  # LINE's error as shown; the whole text stays in the outbox row
GROUPS = ("send", "holdout")


@dataclass
class DayCounts:
    """One business day of one automation (or a total over days)."""

    day: date | None = None
    decided: int = 0
    sent: int = 0
    held: Counter = field(default_factory=Counter)  # quiet_hours, quota, queued (not held, not gone yet)
    skipped: Counter = field(default_factory=Counter)  # cap, opted_out, blocked, no_consent, no_line
    cancelled: Counter = field(default_factory=Counter)  # blocked, opted_out, no_consent
    failed: Counter = field(default_factory=Counter)  # LINE's error
    holdout: int = 0
    buyers: Counter = field(default_factory=Counter)  # send / holdout -> decisions followed by a purchase so far

    @property
    def decided_to_send(self) -> int:
        return self.decided - self.holdout - sum(self.skipped.values())

    @property
    def waiting(self) -> int:
        return sum(self.held.values())

    def add(self, other: DayCounts) -> None:
        self.decided += other.decided
        self.sent += other.sent
        self.holdout += other.holdout
        for name in ("held", "skipped", "cancelled", "failed", "buyers"):
            getattr(self, name).update(getattr(other, name))


@dataclass(frozen=True)
class Group:
    """The decisions of one group whose 7 days are over: how many bought, and the revenue that followed."""

    customers: int
    buyers: int
    revenue: int
    squares: int  # sum of each decision's revenue squared, for the variance

    @property
    def purchase_rate(self) -> float | None:
        return self.buyers / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> int | None:
        return round(self.revenue / self.customers) if self.customers else None

    @property
    def sample(self) -> Sample:
        return Sample(n=self.customers, total=self.revenue, squares=self.squares)


@dataclass(frozen=True)
class Comparison:
    """Messaged against held out: the differences (messaged minus held out) with 95% intervals."""

    messaged: Group
    held_out: Group
    too_young: int  # decisions of the period still inside their 7 days, not counted yet

    @property
    def purchase_rate(self) -> statistics.Interval | None:
        """Newcombe's hybrid score interval; None while a group is empty."""
        if not self.messaged.customers or not self.held_out.customers:
            return None
        return proportion_difference(
            self.messaged.buyers, self.messaged.customers, self.held_out.buyers, self.held_out.customers
        )

    @property
    def revenue_per_customer(self) -> statistics.Interval | None:
        """Welch's t interval, in yen; None while a group has fewer than two decisions."""
        return welch_difference(self.messaged.sample, self.held_out.sample)


@dataclass(frozen=True)
class Results:
    automation: str
    since: date
    until: date
    days: list[DayCounts]
    totals: DayCounts
    comparison: Comparison

    @property
    def empty(self) -> bool:
        return not self.days


def _window_end(uow: UnitOfWork, moment):
    """`moment` + 7 days in SQL, on SQLite (timestamps stored as text) and PostgreSQL."""
    if uow.session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f000", moment, f"+{WINDOW.days} days")
    return moment + literal(WINDOW, Interval())


def _held_reason():
    """The dispatcher's `outbox.held_reason` (quiet_hours, quota) where the column exists."""
    column = getattr(OutboxMessage, "held_reason", None)
    return column if column is not None else literal(None)


def daily_counts(*, uow: UnitOfWork, since: date, until: date, automation: str | None = None) -> dict:
    """{(automation, business_day): DayCounts} for the days from `since` to `until` (inclusive)."""
    D, Out = AutomationDecision, OutboxMessage
    shown_error = case(
        (Out.status.in_(("failed", "cancelled")), func.substr(Out.last_error, 1, ERROR_LENGTH)),
        (Out.last_error.startswith(outbox.QUOTA_SPENT), literal("quota")),  # held for the quota before held_reason
        else_=literal(None),
    )
    held_reason = _held_reason()
    query = (
        select(D.automation, D.business_day, D.outcome, D.reason, Out.status, held_reason, shown_error, func.count())
        .select_from(D)
        .outerjoin(Out, Out.id == D.outbox_id)
        .where(D.business_day >= since, D.business_day <= until)
        .group_by(D.automation, D.business_day, D.outcome, D.reason, Out.status, held_reason, shown_error)
    )
    if automation is not None:
        query = query.where(D.automation == automation)
    rows: dict[tuple[str, date], DayCounts] = {}
    for key, day, outcome, reason, status, held, error, count in uow.session.exec(query):
        counts = rows.setdefault((key, day), DayCounts(day=day))
        counts.decided += count
        if outcome == "holdout":
            counts.holdout += count
        elif outcome == "skipped":
            counts.skipped[reason or "other"] += count
        elif status == "sent":
            counts.sent += count
        elif status == "failed":
            counts.failed[error or ""] += count
        elif status == "cancelled":
            counts.cancelled[error or "other"] += count
        else:  # pending (or its row was removed): not gone yet
            counts.held[held or error or "queued"] += count
    return rows


def _followed_by_purchases(uow: UnitOfWork, *, automation: str, since: date, until: date):
    """Each send/holdout decision with the purchases (net of refunds) in the 7 days after it."""
    D, P = AutomationDecision, Purchase
    net = P.total - P.refunded_total
    return (
        select(
            D.id,
            D.business_day,
            D.outcome,
            D.decided_at,
            func.count(P.id).label("purchases"),
            func.coalesce(func.sum(net), 0).label("revenue"),
        )
        .select_from(D)
        .outerjoin(
            P,
            and_(
                P.customer_id == D.customer_id,
                P.occurred_at > D.decided_at,
                P.occurred_at <= _window_end(uow, D.decided_at),
                net > 0,
            ),
        )
        .where(D.automation == automation, D.outcome.in_(GROUPS))
        .where(D.business_day >= since, D.business_day <= until)
        .group_by(D.id, D.business_day, D.outcome, D.decided_at)
        .subquery()
    )


def results(*, uow: UnitOfWork, automation: str, since: date, until: date) -> Results:
    """Per day and in total, with the hold-out comparison over decisions whose 7 days are over."""
    by_day = daily_counts(uow=uow, automation=automation, since=since, until=until)
    decisions = _followed_by_purchases(uow, automation=automation, since=since, until=until)
    bought = case((decisions.c.purchases > 0, 1), else_=0)
    matured = decisions.c.decided_at <= uow.now() - WINDOW
    query = select(  # one pass: per day and group, everything the table and the comparison need
        decisions.c.business_day,
        decisions.c.outcome,
        func.sum(bought),
        func.sum(case((matured, 1), else_=0)),
        func.sum(case((matured, bought), else_=0)),
        func.sum(case((matured, decisions.c.revenue), else_=0)),
        func.sum(case((matured, decisions.c.revenue * decisions.c.revenue), else_=0)),
    ).group_by(decisions.c.business_day, decisions.c.outcome)
    sums = {outcome: [0, 0, 0, 0] for outcome in GROUPS}  # customers, buyers, revenue, squares (matured only)
    decided = 0
    for day, outcome, buyers, *matured_sums in uow.session.exec(query):
        by_day.setdefault((automation, day), DayCounts(day=day)).buyers[outcome] += int(buyers or 0)
        for index, value in enumerate(matured_sums):
            sums[outcome][index] += int(value or 0)
    for counts in by_day.values():
        decided += counts.holdout + counts.decided_to_send
    groups = {outcome: Group(*sums[outcome]) for outcome in GROUPS}
    too_young = decided - groups["send"].customers - groups["holdout"].customers

    days = [counts for (_key, _day), counts in sorted(by_day.items(), key=lambda item: item[0][1], reverse=True)]
    totals = DayCounts()
    for counts in days:
        totals.add(counts)
    comparison = Comparison(messaged=groups["send"], held_out=groups["holdout"], too_young=too_young)
    return Results(automation, since, until, days, totals, comparison)


def recent_totals(*, uow: UnitOfWork, since: date, until: date) -> dict[str, DayCounts]:
    """{automation: DayCounts} summed over the days from `since` to `until`, for the list of automations."""
    totals: dict[str, DayCounts] = {}
    for (key, _day), counts in daily_counts(uow=uow, since=since, until=until).items():
        totals.setdefault(key, DayCounts()).add(counts)
    return totals
