"""Deciding: who gets which automation message now, recorded with its outcome, written to the outbox.

For each enabled automation one query finds the due, undecided candidates; Python checks who may
get a marketing message (LINE friend, consent, no opt-out), the weekly cap and the stable hold-out
group, renders the sends through the `render` callable the composition root hands in, and writes
outbox rows, decisions and new hold-out assignments with bulk inserts, committing per chunk: a crash
mid-run redoes only what was not decided yet, and a second run decides nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, func, select, text
from sqlalchemy.exc import IntegrityError

from crm_core import channels, outbox, segments, shop
from crm_core.automations import candidates
from crm_core.automations.definitions import (
    check_definition,
    enabled_keys,
    flow_id_of,
    flow_key,
    get_automation,
    is_transactional,
    weekly_cap,
)
from crm_core.coupons.benefits import expires_at
from crm_core.coupons.codes import new_code
from crm_core.db import chunks
from crm_core.models import (
    Automation,
    AutomationDecision,
    AutomationHoldout,
    Coupon,
    CouponFlow,
    CustomerCoupon,
    OutboxBody,
    OutboxMessage,
    Product,
    ProductPair,
    Segment,
    TimelineEntry,
)
from crm_core.uow import UnitOfWork

log = logging.getLogger("kizuna.automations")

CHUNK = 5000
CODE_ATTEMPTS = 5  # draws of a chunk's clashing coupon codes
DAILY_TRIGGERS = ("lapsed", "birthday_month", "scheduled")
DECIDED_ON = "flows.decided_on:"  # + the flow's key: the business day the job last decided it
# a flow triggered by an event leaves these undecided while the event is recent (candidates.FLOW_EVENT_WINDOW)
WAIT_FOR = ("no_line", "no_consent")
LOOKUP_MAX = 2000  # weekly-cap counts looked up by customer id up to this many at once, else all read
CAP_WINDOW = timedelta(days=7)
RECOMMEND_COUNT = 3
PAIRS_PER_PRODUCT = 20
SKIP_REASONS = ("cap", "opted_out", "blocked", "no_consent", "no_line", "no_match", "sold_out", "coupon_limit")

O = OutboxMessage.__table__  # noqa: E741
D = AutomationDecision.__table__
H = AutomationHoldout.__table__
B = OutboxBody.__table__
CC = CustomerCoupon.__table__
TL = TimelineEntry.__table__


@dataclass(frozen=True)
class Recipient:
    """Who a message is for, as the render callable sees them."""

    customer_id: int
    name: str
    locale: str  # the LINE identity's language, else the customer's; the renderer normalizes it


# render(automation, *, recipient, context, locale, templates, share) -> LINE message dicts, or their JSON text
# with `outbox.FILL` where the recipient's name goes: each distinct text is stored once (outbox_bodies) and
# each customer's row carries only their name (many customers' messages cost one render and one body);
# `share`, when not None, stands for the context but its purchase: equal shares may share one render
Render = Callable[..., list[dict] | str]


@dataclass
class RunReport:
    """What a run decided, per automation: outcome counts and skip reasons."""

    decided: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, key: str, outcome: str, reason: str | None) -> None:
        self.decided[key][outcome] += 1
        if reason:
            self.decided[key][f"skipped:{reason}"] += 1

    @property
    def total(self) -> int:
        return sum(c["send"] + c["holdout"] + c["skipped"] for c in self.decided.values())

    def summary(self) -> str:
        if not self.total:
            return "nothing due"
        parts = []
        for key, counts in self.decided.items():
            reasons = ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(counts.items()) if k.startswith("skipped:"))
            parts.append(
                f"{key}: send {counts['send']}, holdout {counts['holdout']}, skipped {counts['skipped']}"
                + (f" ({reasons})" if reasons else "")
            )
        return "; ".join(parts)


def in_holdout(key: str, customer_id: int, percent: int) -> bool:
    """The stable hash of (automation, customer) against the share in force when first assigned."""
    digest = hashlib.sha256(f"{key}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def retry_keys(count: int) -> list[str]:
    """`count` random version-4 UUIDs as text (LINE's X-Line-Retry-Key), a third of `uuid4()`'s cost each."""
    digits = os.urandom(16 * count).hex()
    keys = []
    for start in range(0, 32 * count, 32):
        d = digits[start : start + 32]
        variant = "89ab"[int(d[16], 16) & 3]
        keys.append(f"{d[:8]}-{d[8:12]}-4{d[13:16]}-{variant}{d[17:20]}-{d[20:32]}")
    return keys


def service_refusal(row) -> str | None:
    """Why this customer may not get a transactional message (a reminder they asked for) now: blocking only."""
    if row.address is None:
        return "no_line"
    return "blocked" if row.blocked else None


def skip_reason(row) -> str | None:
    """Why this customer may not get a marketing message now (None: they may)."""
    return channels.marketing_refusal(
        on_line=row.address is not None,
        blocked=bool(row.blocked),
        consented=bool(row.consented),
        opted_out=bool(row.marketing_opt_out),
    )


def run_due(
    *,
    uow: UnitOfWork,
    render: Render,
    zone: ZoneInfo,
    keys: Iterable[str] | None = None,
    customer_ids: Iterable[int] | None = None,
    chunk: int = CHUNK,
) -> RunReport:
    """Decide every enabled automation's due messages (or `keys`, enabled or not); commits per chunk."""
    # NotFound for an unknown key
    keys = enabled_keys(uow=uow) if keys is None else [key for key in keys if check_definition(key)]
    report = RunReport()
    if not keys:
        return report
    ids = None if customer_ids is None else sorted(set(customer_ids))
    # a writer thread (and its connection) only pays for itself on a campaign-sized run
    run = _Run(uow=uow, render=render, zone=zone, report=report, chunk=chunk, apart=ids is None or len(ids) > chunk)
    try:
        for key in keys:
            run.automation(key, ids)
    finally:
        run.close()
    return report


def running_flow_keys(*, uow: UnitOfWork, zone: ZoneInfo, triggers: Iterable[str] | None = None) -> list[str]:
    """The automation keys of the coupon flows running today (not paused, within their dates), or of those with
    one of `triggers`."""
    today = uow.now().astimezone(zone).date()
    query = select(CouponFlow.id).where(
        CouponFlow.paused.is_(False),
        (CouponFlow.starts_on.is_(None)) | (CouponFlow.starts_on <= today),
        (CouponFlow.ends_on.is_(None)) | (CouponFlow.ends_on >= today),
    )
    if triggers is not None:
        query = query.where(CouponFlow.trigger.in_(list(triggers)))
    return [flow_key(flow_id) for flow_id in uow.session.execute(query.order_by(CouponFlow.id)).scalars()]


def run_flows(
    *,
    uow: UnitOfWork,
    render: Render,
    zone: ZoneInfo,
    customer_ids: Iterable[int] | None = None,
    keys: Iterable[str] | None = None,
    chunk: int = CHUNK,
    once_a_day: bool = False,
) -> RunReport:
    """Decide every running coupon flow (or `keys`): the `flows.run` job (`once_a_day`: the flows whose trigger
    is a day's, a lapse, a birthday month, a date, run once per business day), and the event hooks after a
    purchase or a registration with that customer's id."""
    keys = running_flow_keys(uow=uow, zone=zone) if keys is None else list(keys)
    today = uow.now().astimezone(zone).date().isoformat()
    daily = set()
    if once_a_day:  # the day's triggers find nothing new before the next business day: ask once a day
        query = select(CouponFlow.id).where(CouponFlow.trigger.in_(DAILY_TRIGGERS))
        daily = {flow_key(flow_id) for flow_id in uow.session.execute(query).scalars()}
    report = RunReport()
    for key in keys:  # one at a time: a flow that cannot be decided (a broken segment) does not stop the others
        marker = f"{DECIDED_ON}{key}"
        if key in daily and shop.get_setting(uow=uow, key=marker) == today:
            continue
        try:
            done = run_due(uow=uow, render=render, zone=zone, keys=[key], customer_ids=customer_ids, chunk=chunk)
        except Exception:
            log.exception("coupon flow %s could not be decided; the other flows go on", key)
            uow.rollback()
            continue
        report.decided.update(done.decided)
        if key in daily:
            shop.set_setting(uow=uow, key=marker, value=today)
            uow.commit()
    return report


def run_now(
    *, uow: UnitOfWork, render: Render, zone: ZoneInfo, key: str, customer_ids: Iterable[int] | None = None
) -> RunReport:
    """Decide one automation now (the console's "run now"), even while it is switched off."""
    return run_due(uow=uow, render=render, zone=zone, keys=[key], customer_ids=customer_ids)


class _Run:
    def __init__(
        self, *, uow: UnitOfWork, render: Render, zone: ZoneInfo, report: RunReport, chunk: int, apart: bool = True
    ):
        self.uow, self.render, self.report, self.chunk = uow, render, report, chunk
        self.at = candidates.Moment(now=uow.now(), zone=zone)
        self.cap = weekly_cap(uow)
        self.sent_recently: Counter = Counter()  # marketing messages in the cap window, of the customers seen
        self._counted: set[int] | None = set()  # whose counts are loaded (None: everyone's)
        self._products = None
        self.assigned: dict[tuple[str, int], bool] = {}  # hold-out groups drawn in this run, not yet read back
        self.shared_text: dict = {}  # (automation, share) -> its context's JSON text but the purchase
        self.bodies: dict[str, int] = {}  # a rendered text -> its outbox_bodies id, numbered in this run
        self.body_rows: dict[int, dict] = {}  # id -> the body's row, until stored
        self.stored_bodies: set[int] = set()  # ids of the bodies committed in this run
        self.postgres = uow.session.get_bind().dialect.name == "postgresql"
        apart = apart and self.postgres
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="automation-writer") if apart else None
        self.writer_connection = None
        self.in_flight = None  # (write, future) of the chunk the writer is storing
        self.flow: _FlowRun | None = None  # the coupon flow being decided, if any

    def _count_recent(self, customer_ids: list[int]) -> None:
        """Load the weekly-cap counts of these customers (once each: the run adds its own sends after).

        A few customers: looked up by id. Many (a campaign-sized run): every customer's in one GROUP BY,
        cheaper than thousands of lookups and immune to an outbox that grew since it was last analysed.
        """
        if self._counted is None:
            return  # everyone's are loaded
        new = sorted(set(customer_ids) - self._counted)
        recent = (
            select(O.c.customer_id, func.count())
            .where(O.c.category == "marketing", O.c.status != "cancelled")
            .where(O.c.created_at > self.at.now - CAP_WINDOW, O.c.customer_id.is_not(None))
            .group_by(O.c.customer_id)
        )
        if len(new) > LOOKUP_MAX:
            counts = dict(self.uow.session.execute(recent).all())
            counts.update({c: self.sent_recently[c] for c in self._counted})  # this run's sends are counted
            self.sent_recently = Counter(counts)
            self._counted = None
            return
        for chunk in chunks(new):
            self.sent_recently.update(dict(self.uow.session.execute(recent.where(O.c.customer_id.in_(chunk))).all()))
        self._counted.update(new)

    @property
    def products(self) -> dict[str, str]:
        if self._products is None:
            self._products = dict(self.uow.session.execute(select(Product.sku, Product.name)).all())
        return self._products

    def automation(self, key: str, customer_ids) -> None:
        flow_id = flow_id_of(key)
        self.flow = None
        if flow_id is None:
            settings = get_automation(uow=self.uow, key=key)
            found = iter(getattr(self, f"_{key}")(key, customer_ids))
        else:
            settings = self.uow.session.get(CouponFlow, flow_id)
            found = iter(self._flow(key, settings, customer_ids))
        while chunk := list(islice(found, self.chunk)):
            self._decide(key, settings, chunk)
        self.flush()
        self.uow.commit()  # ends this thread's reading transaction (the writer committed the rows)

    # candidates: iterables of (row, occurrence, context[, share]); context None = nothing to say (skipped no_match);
    # share: a hashable that stands for the context but its purchase (equal shares, one render for all)

    def _first_purchase(self, key, customer_ids):
        rows = self.uow.session.execute(candidates.first_purchase(key, self.at, customer_ids)).all()
        return [(row, row.occ, {"purchase_id": row.purchase_id, "store": row.store}) for row in rows]

    def _replenishment(self, key, customer_ids):
        rows = self.uow.session.execute(candidates.replenishment(key, self.at, customer_ids)).all()
        return [
            (
                row,
                row.occ,
                {
                    "sku": row.sku,
                    "product": row.product or row.sku,
                    "last_purchased_on": row.last_purchased_on.isoformat(),
                    "interval_days": row.interval_days,
                    "own_interval": bool(row.own),
                },
            )
            for row in rows
        ]

    def _recommendations(self, key, customer_ids):
        """A generator: the reading is done at once, the picks made as each chunk is decided (on PostgreSQL,
        while the writer stores the chunk before)."""
        rows = self.uow.session.execute(candidates.recommendations(key, self.at, customer_ids)).all()
        if not rows:
            return
        pairs = defaultdict(list)
        for sku, other, score in self.uow.session.execute(
            select(ProductPair.sku, ProductPair.other_sku, ProductPair.score)
            .where(ProductPair.rank <= PAIRS_PER_PRODUCT)
            .order_by(ProductPair.sku, ProductPair.rank)
        ):
            pairs[sku].append((other, score))
        bought, basket = defaultdict(set), defaultdict(set)
        latest = {row.customer_id: row.purchase_id for row in rows}
        # one indexed range over the recent purchases (a superset of the candidates'), not an IN list per chunk
        for customer_id, purchase_id, sku in self.uow.session.execute(candidates.recent_items(self.at)).all():
            if customer_id in latest:
                bought[customer_id].add(sku)
                if purchase_id == latest[customer_id]:
                    basket[customer_id].add(sku)
        name = self.products.get
        shown: dict[tuple, list[dict]] = {}  # the same picks, the same (read-only) list
        chosen: dict[tuple[frozenset, frozenset], tuple] = {}  # customers with the same history, the same picks
        for row in rows:
            history = (frozenset(basket[row.customer_id]), frozenset(bought[row.customer_id]))
            picks = chosen.get(history)
            if picks is None:
                picks = chosen[history] = tuple(recommend(*history, pairs))
            items = shown.get(picks)
            if items is None:
                items = shown[picks] = [
                    {"sku": sku, "name": name(sku, sku), "because_sku": src, "because": name(src, src)}
                    for sku, src in picks
                ]
            context = {"purchase_id": row.purchase_id, "items": items} if picks else None
            yield row, row.occ, context, picks

    def _points_expiring(self, key, customer_ids):
        rows = self.uow.session.execute(candidates.points_expiring(key, self.at, customer_ids)).all()
        decided = set(map(tuple, self.uow.session.execute(candidates.decided_points(key, self.at)).all()))
        grouped: dict[tuple[int, str], list] = {}
        for row in rows:
            # a lot that expires at 00:00 can be used through the day before: that day is the one shown
            last_day = (row.expires_at - timedelta(microseconds=1)).astimezone(self.at.zone).date()
            occurrence = f"points:{last_day.isoformat()}"
            if (row.customer_id, occurrence) in decided:
                continue
            entry = grouped.setdefault((row.customer_id, occurrence), [row, 0, last_day])
            entry[1] += int(row.points)
        return [
            (row, occurrence, {"points": total, "expires_on": last_day.isoformat()})
            for (_, occurrence), (row, total, last_day) in grouped.items()
        ]

    def _flow(self, key: str, flow: CouponFlow, customer_ids):
        """A coupon flow's candidates: its trigger's, within its segment; nothing while its coupon is off or over."""
        # read afresh: another flow of this run (or a rollback) may have left an older copy in the session
        coupon = self.uow.session.get(Coupon, flow.coupon_id, populate_existing=True)
        now = self.at.now
        until = expires_at(
            issued_at=now, zone=self.at.zone, valid_days=coupon.valid_days, valid_until=coupon.valid_until
        )
        if not coupon.active or until <= now:
            log.warning("coupon flow %s: its coupon %s is switched off or over; nothing decided", flow.id, coupon.id)
            return
        audience = None
        if flow.segment_id is not None:
            rules = segments.check_rules(self.uow.session.get(Segment, flow.segment_id).rules)
            audience = segments.audience(rules, now=now, zone=self.at.zone)
        rows = self.uow.session.execute(candidates.coupon_flow(key, flow, self.at, audience, customer_ids)).all()
        if not rows:
            return
        self.flow = _FlowRun(
            coupon=coupon,
            expires_at=until,
            base=coupon.issued,
            limit=coupon.per_customer_limit,
            waits=flow.trigger in candidates.FLOW_EVENT_TRIGGERS,
        )
        context = flow_context(coupon, until, self.at.zone)
        share = ("coupon", coupon.id, context["expires_on"])  # everyone's message is the same but for the name
        for row in rows:
            yield row, row.occ, context, share

    def _flow_limits(self, customer_ids: list[int]) -> dict[int, int]:
        """How many of the flow's coupon each customer holds (issued, used or void), kept for the whole run.

        A few customers (a purchase's flows): looked up by id. Many (a campaign): every holder of the coupon in
        one GROUP BY on its unique index, instead of thousands of lookups per chunk.
        """
        flow = self.flow
        if flow.held is None:
            flow.held = {}
            if len(customer_ids) > LOOKUP_MAX or len(customer_ids) >= self.chunk:
                flow.held.update(
                    self.uow.session.execute(
                        select(CC.c.customer_id, func.count())
                        .where(CC.c.coupon_id == flow.coupon.id)
                        .group_by(CC.c.customer_id)
                    ).all()
                )
                flow.all_held = True
        if not flow.all_held:
            for part in chunks(sorted(set(customer_ids) - flow.looked_up)):
                flow.held.update(
                    self.uow.session.execute(
                        select(CC.c.customer_id, func.count())
                        .where(CC.c.coupon_id == flow.coupon.id, CC.c.customer_id.in_(part))
                        .group_by(CC.c.customer_id)
                    ).all()
                )
                flow.looked_up.update(part)
        return flow.held

    def _issue(self, key: str, customer_id: int, occurrence: str, held: dict[int, int]) -> str | None:
        """The flow's coupon for this customer in this chunk's rows; or why not (sold_out, coupon_limit)."""
        flow = self.flow
        coupon = flow.coupon
        if flow.limit is not None and held.get(customer_id, 0) >= flow.limit:
            return "coupon_limit"
        if coupon.stock is not None and flow.base + flow.taken >= coupon.stock:
            return "sold_out"
        held[customer_id] = held.get(customer_id, 0) + 1
        flow.taken += 1
        flow.rows.append(
            {
                "id": None,  # numbered with the chunk's outbox rows
                "code": new_code(prefix=coupon.code_prefix, alphabet=coupon.code_alphabet, length=coupon.code_length),
                "coupon_id": coupon.id,
                "customer_id": customer_id,
                "seq": held[customer_id],
                "obtained_by": "flow",
                "idempotency_key": f"{key}:{customer_id}:{occurrence}",
                "issued_at": self.at.now,
                "expires_at": flow.expires_at,
                "status": "issued",
            }
        )
        return None

    def _booking_reminder(self, key, customer_ids):
        found = []
        for query in candidates.booking_reminders(key, self.at, customer_ids):
            for row in self.uow.session.execute(query).all():
                zone = row.time_zone or self.at.zone.key  # the store's own, else the shop's
                context = {
                    "booking_id": row.booking_id,
                    "store": row.store,
                    "menu": row.menu,
                    "starts_at": row.starts_at.astimezone(ZoneInfo(zone)).isoformat(),
                    "zone": zone,
                    "when": row.occ.rsplit(":", 1)[1],
                    "remind_at": row.remind_at.isoformat(),
                }
                found.append((row, row.occ, context))
        found.sort(key=lambda item: item[0].customer_id)
        return found

    def _birthday(self, key, customer_ids):
        rows = self.uow.session.execute(candidates.birthday(key, self.at, customer_ids)).all()
        return [(row, row.occ, {"month": row.birth_month, "year": self.at.today.year}) for row in rows]

    def _new_ids(self, table, count: int):
        """`count` ids for rows about to be inserted into `table` (a serial primary key)."""
        session = self.uow.session
        if self.postgres:
            return (
                session.execute(
                    text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                    {"table": table.name, "n": count},
                )
                .scalars()
                .all()
            )
        # SQLite: this transaction began IMMEDIATE, so it holds the one write lock: nobody else takes ids
        last = session.execute(select(func.max(table.c.id))).scalar_one() or 0
        return range(last + 1, last + count + 1)

    def _number(self, sends: list[tuple[dict, dict]]) -> None:
        """Ids for the chunk's outbox rows and the new bodies they share."""
        rows = [row for _, row in sends]
        texts = list(dict.fromkeys(row["body_id"] for row in rows if type(row["body_id"]) is str))
        new = [text for text in texts if text not in self.bodies]
        if new:
            ids = self._new_ids(B, len(new))
            self.bodies.update(zip(new, ids, strict=True))
            for body_text, body_id in zip(new, ids, strict=True):
                self.body_rows[body_id] = {"id": body_id, "messages": body_text, "created_at": self.at.now}
        for row, outbox_id in zip(rows, self._new_ids(O, len(rows)), strict=True):
            row["id"] = outbox_id
            if type(row["body_id"]) is str:
                row["body_id"] = self.bodies[row["body_id"]]
        for decision, row in sends:
            decision["outbox_id"] = row["id"]
        if self.flow is not None and self.flow.rows:
            for held, held_id in zip(self.flow.rows, self._new_ids(CC, len(self.flow.rows)), strict=True):
                held["id"] = held_id
            self._unique_codes(self.flow.rows)

    def _unique_codes(self, rows: list[dict]) -> None:
        """Draw again the chunk's random codes that clash with one another or with a stored coupon's (a short
        format makes that likely enough that one clash must not refuse a whole chunk)."""
        coupon = self.flow.coupon

        def draw() -> str:
            return new_code(prefix=coupon.code_prefix, alphabet=coupon.code_alphabet, length=coupon.code_length)

        for _attempt in range(CODE_ATTEMPTS):
            seen: set[str] = set()
            clashes = []
            for row in rows:
                if row["code"] in seen:
                    clashes.append(row)
                seen.add(row["code"])
            for part in chunks(sorted(seen)):
                taken = set(self.uow.session.execute(select(CC.c.code).where(CC.c.code.in_(part))).scalars())
                clashes.extend(row for row in rows if row["code"] in taken)
            if not clashes:
                return
            for row in clashes:
                row["code"] = draw()
        # still clashing: the chunk's insert is refused and its customers are decided by a later run

    def _write(self, key: str, sends: list, holdouts: list, decisions: list) -> None:
        """Store one chunk in its own transaction: inline on SQLite; on PostgreSQL by the writer thread,
        on its own connection, while this thread decides the next chunk (the database's work and ours overlap;
        at most one chunk is in flight, and each chunk's outcome is counted when it is known)."""
        self.flush()  # first: which bodies the chunk before stored is known only then
        rows = [row for _, row in sends]
        needed = {row["body_id"] for row in rows if row["body_id"] is not None} - self.stored_bodies
        write = _Write(key, [self.body_rows[i] for i in sorted(needed)], rows, holdouts, decisions)
        if self.flow is not None and self.flow.rows:
            coupon = self.flow.coupon
            write.coupons, self.flow.rows = self.flow.rows, []
            write.stock = (coupon.id, len(write.coupons), self.at.now)
            write.timeline = [
                {
                    "customer_id": held["customer_id"],
                    "kind": "coupon_issued",
                    "data": _compact(
                        {"coupon_id": coupon.id, "customer_coupon_id": held["id"], "title": coupon.title, "by": "flow"}
                    ),
                    "occurred_at": self.at.now,
                }
                for held in write.coupons
            ]
        if self.writer is None:
            uow = self.uow
            self._finish(write, self._store(uow.session.connection(), write, uow.commit, uow.rollback))
            return
        self.in_flight = (write, self.writer.submit(self._store_apart, write))

    def flush(self) -> None:
        """Wait for the chunk in flight (PostgreSQL) and count its outcome."""
        if self.in_flight is not None:
            write, future = self.in_flight
            self.in_flight = None
            self._finish(write, future.result())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self.writer is not None:
                self.writer.shutdown()
                if self.writer_connection is not None:
                    self.writer_connection.close()

    def _store_apart(self, write: _Write) -> bool:
        if self.writer_connection is None:
            self.writer_connection = self.uow.session.get_bind().connect()
        connection = self.writer_connection
        connection.begin()  # the rows go through the driver: SQLAlchemy would not begin (nor commit) by itself
        # no wait for the disk at each of a campaign's commits: a crash can lose only the last chunks, rows nobody
        # sent yet (the dispatcher's claim commits durably, flushing every earlier commit, before a row leaves),
        # and with their decisions and coupons, so the next run decides those customers again
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        return self._store(connection, write, connection.commit, connection.rollback)

    def _store(self, connection, write: _Write, commit: Callable[[], None], rollback: Callable[[], None]) -> bool:
        """Insert the chunk's rows and commit; False when another run decided some of them meanwhile."""
        errors = (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError)
        try:
            if write.stock is not None:  # the CHECK on coupons refuses more than the stock, whoever took it
                coupon_id, count, now = write.stock
                connection.execute(
                    Coupon.__table__.update()
                    .where(Coupon.__table__.c.id == coupon_id)
                    .values(issued=Coupon.__table__.c.issued + count, updated_at=now)
                )
            for table, rows, as_text in (
                (B, write.bodies, ()),
                (O, write.outbox, ("messages",)),
                (H, write.holdouts, ()),
                (D, write.decisions, ("context",)),
                (CC, write.coupons, ()),
                (TL, write.timeline, ("data",)),
            ):
                if rows:
                    _insert(connection, table, rows, as_text=as_text)
            commit()
            return True
        except errors:
            rollback()
            return False

    def _finish(self, write: _Write, stored: bool) -> None:
        if not stored:
            # another run decided some of these at the same moment (or took the last coupons): leave them to it,
            # or to the next run (its bodies go again)
            log.warning("automation %s: %d decisions already made by another run", write.key, len(write.decisions))
            # what the chunk counted is given back: its customers are decided by a later run
            for row in write.outbox:
                self.sent_recently[row["customer_id"]] -= 1
            if write.stock is not None and self.flow is not None:
                self.flow.taken -= write.stock[1]
                for held in write.coupons:
                    self.flow.held[held["customer_id"]] -= 1
            return
        self.stored_bodies.update(body["id"] for body in write.bodies)
        for decision in write.decisions:
            self.report.add(write.key, decision["outcome"], decision["reason"])

    def _context_text(self, key: str, context: dict, share) -> str:
        """The decision's context as JSON text: customers with equal shares differ only in the purchase."""
        rest = self.shared_text.get((key, share))
        if rest is None:
            kept = {k: v for k, v in context.items() if k != "purchase_id"}
            if "items" in kept:  # products by sku only (a name is read when shown): a decision row stays small
                kept["items"] = [{"sku": item["sku"], "because_sku": item["because_sku"]} for item in kept["items"]]
            rest = self.shared_text[key, share] = _compact(kept)
        if "purchase_id" not in context:
            return rest
        purchase = f'{{"purchase_id":{int(context["purchase_id"])}'
        return purchase + ("}" if rest == "{}" else "," + rest[1:])

    def _decide(self, key: str, settings: Automation, chunk: list) -> None:
        now, today = self.at.now, self.at.today
        transactional = is_transactional(key)
        self._count_recent([row.customer_id for row, *_ in chunk])
        held = self._flow_limits([row.customer_id for row, *_ in chunk]) if self.flow is not None else None
        decisions, sends, holdouts = [], [], []
        for row, occurrence, context, *share in chunk:
            customer_id = row.customer_id
            recorded = context if not share or context is None else self._context_text(key, context, share[0])
            reason = service_refusal(row) if transactional else skip_reason(row)
            if reason in WAIT_FOR and self.flow is not None and self.flow.waits:
                continue  # not recorded: linking LINE or agreeing within the event's window still brings the coupon
            if reason is not None and transactional and datetime.fromisoformat(context["remind_at"]) > now:
                continue  # not recorded: following (again) before the reminder's time still brings it
            if reason is None and context is None:
                reason = "no_match"
            if reason is None and not transactional and self.sent_recently[customer_id] >= self.cap:
                reason = "cap"
            decision = {
                "automation": key,
                "customer_id": customer_id,
                "occurrence": occurrence,
                "outcome": "skipped",
                "reason": reason,
                "outbox_id": None,
                "decided_at": now,
                "business_day": today,
                "context": recorded,
            }
            decisions.append(decision)
            if reason is not None:
                continue
            in_group = False if transactional else row.in_holdout
            if in_group is None:
                in_group = self.assigned.get((key, customer_id))
            if in_group is None:  # the first decision for this customer: draw and record their group
                in_group = self.assigned[(key, customer_id)] = in_holdout(key, customer_id, settings.holdout_percent)
                holdouts.append(
                    {"automation": key, "customer_id": customer_id, "in_holdout": in_group, "assigned_at": now}
                )
            if in_group:
                decision["outcome"] = "holdout"
                continue
            if held is not None:
                refused = self._issue(key, customer_id, occurrence, held)
                if refused is not None:
                    decision["reason"] = refused
                    continue
            decision["outcome"] = "send"
            locale = row.language or row.locale
            messages = self.render(
                key,
                recipient=Recipient(customer_id=customer_id, name=row.name, locale=locale),
                context=context,
                locale=locale,
                templates=settings.templates,
                share=share[0] if share else None,
            )
            if not transactional:
                self.sent_recently[customer_id] += 1
            shared = type(messages) is str  # a body many rows may share, this row's name its fill
            sends.append(
                (
                    decision,
                    {
                        "customer_id": customer_id,
                        "channel": "line",
                        "address": row.address,
                        "category": "transactional" if transactional else "marketing",
                        "messages": None if shared else _compact(messages),
                        "body_id": messages if shared else None,  # the text, until its body's id is known
                        "fill": outbox.escaped(row.name) if shared else None,
                        "retry_key": None,  # below, for the chunk at once
                        "dedupe_key": f"auto:{key}:{customer_id}:{occurrence}",
                        # a reminder goes at its own time; the others as soon as delivery allows
                        "not_before": datetime.fromisoformat(context["remind_at"]) if transactional else None,
                        "booking_id": context["booking_id"] if transactional else None,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                    },
                )
            )
        for (_, row), retry_key in zip(sends, retry_keys(len(sends)), strict=True):
            row["retry_key"] = retry_key
        self._number(sends)
        self._write(key, sends, holdouts, decisions)


def flow_context(coupon: Coupon, until, zone: ZoneInfo) -> dict:
    """What a coupon flow's message says of its coupon, issued now and valid `until` (its last day shown)."""
    return {
        "coupon_id": coupon.id,
        "title": coupon.title,
        "kind": coupon.benefit_kind,
        "value": coupon.benefit_value,
        "cap": coupon.benefit_cap,
        "item": coupon.benefit_item,
        "minimum": coupon.min_purchase,
        "expires_on": (until - timedelta(microseconds=1)).astimezone(zone).date().isoformat(),
    }


@dataclass
class _Write:
    """One chunk's rows, stored in one transaction."""

    key: str
    bodies: list[dict]
    outbox: list[dict]
    holdouts: list[dict]
    decisions: list[dict]
    coupons: list[dict] = field(default_factory=list)  # a coupon flow's coupons, one per send
    timeline: list[dict] = field(default_factory=list)
    stock: tuple | None = None  # (coupon id, coupons issued, now): the coupon's count goes up by as many


@dataclass
class _FlowRun:
    """A coupon flow being decided: its coupon, when the coupons it issues now expire, and what it took."""

    coupon: Coupon
    expires_at: object
    waits: bool = False  # an event's flow (joining, the Nth purchase): who cannot get it yet is asked again
    base: int = 0  # the coupon's issued count when the run read it
    limit: int | None = None  # its per-customer limit
    taken: int = 0  # coupons issued by this run so far (stored, or in a chunk on its way)
    rows: list[dict] = field(default_factory=list)  # the chunk's coupons, until written
    held: dict[int, int] | None = None  # customer -> coupons of this kind held, this run's included
    all_held: bool = False  # `held` has every holder (else only those in `looked_up`)
    looked_up: set[int] = field(default_factory=set)


def _insert(connection, table, rows: list[dict], *, as_text: tuple[str, ...] = ()) -> None:
    """Bulk insert through the driver: COPY on PostgreSQL, executemany on SQLite.

    Values go through their column type's own bind processing for this database (UTC timestamps
    as the ORM writes them, JSON), once per distinct object (a run's timestamps are one object
    each); in `as_text` columns a str is JSON text already and goes as it is.
    """
    dialect = connection.dialect
    columns = list(rows[0])
    driver = connection.connection.dbapi_connection
    if dialect.name == "postgresql":
        json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([_json(row[c]) if c in json_columns else row[c] for c in columns])
        return
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    texts = [c in as_text for c in columns]
    last = [object()] * len(columns)  # per column: the last value and what it became
    done = [None] * len(columns)
    values = []
    for row in rows:
        out = []
        for index, column in enumerate(columns):
            value = row[column]
            process = processors[index]
            if process is not None and value is not None and not (texts[index] and type(value) is str):
                if value is not last[index]:
                    last[index], done[index] = value, process(value)
                value = done[index]
            out.append(value)
        values.append(out)
    marks = ", ".join("?" * len(columns))
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 (our names)
    driver.executemany(statement, values)


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(value):
    """JSON text for COPY (text is taken to be JSON already)."""
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def recommend(basket: set[str], bought: set[str], pairs: dict[str, list[tuple[str, int]]]) -> list[tuple[str, str]]:
    """Up to 3 (sku, because_sku): the best co-bought products of the basket, none bought recently.

    Each product's reason is the basket product it scores highest with (ties: the smaller sku);
    products are ranked by that score, ties broken by sku: the same history gives the same answer.
    """
    best: dict[str, tuple[int, str]] = {}
    for source in sorted(basket):
        for other, score in pairs.get(source, ()):
            if other in bought or other in basket:
                continue
            current = best.get(other)
            if current is None or score > current[0]:
                best[other] = (score, source)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
    return [(sku, source) for sku, (_, source) in ranked[:RECOMMEND_COUNT]]
