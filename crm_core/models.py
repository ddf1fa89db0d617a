"""Tables. Money is integer yen; every timestamp is aware UTC (UTCDateTime)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm_core.db import UTCDateTime


def _ts(*, nullable: bool = False, index: bool = False):
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _fk(target: str, *, nullable: bool = True, index: bool = True, ondelete: str | None = None):
    return Field(
        default=None,
        sa_column=Column(Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index),
    )


class Store(SQLModel, table=True):
    __tablename__ = "stores"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    business_hours: dict | None = Field(default=None, sa_type=JSON)  # None: the shop's hours
    active: bool = True  # a closed store keeps its history but is no longer offered at the till
    created_at: datetime = _ts()
    updated_at: datetime | None = _ts(nullable=True)


class Customer(SQLModel, table=True):
    """A person the shop knows, whatever channel they came from."""

    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    member_number: str = Field(max_length=20, unique=True)
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    name: str = Field(max_length=200)
    name_kana: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    birth_month: int | None = None  # month and day are enough for birthday offers
    birth_day: int | None = None
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    home_store_id: int | None = _fk("stores.id", index=False)
    search_key: str | None = Field(default=None, sa_type=Text)  # crm_core.contacts.search_key of name, kana, phone
    profile_asked_at: datetime | None = _ts(nullable=True)
    locale: str = Field(default="ja", max_length=5)
    tier: str = Field(default="regular", max_length=20)
    consented_at: datetime | None = _ts(nullable=True)
    marketing_opt_out: bool = False
    erased_at: datetime | None = _ts(nullable=True)
    web_email: str | None = Field(default=None, max_length=254, unique=True)
    web_password_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ChannelIdentity(SQLModel, table=True):
    """One address of a customer on one channel (a LINE user id today, an e-mail address later)."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "address", name="uq_identity_channel_address"),
        UniqueConstraint("channel", "customer_id", name="uq_identity_channel_customer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    address: str = Field(max_length=100)
    customer_id: int | None = _fk("customers.id")
    display_name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=10)
    followed: bool = False
    blocked_at: datetime | None = _ts(nullable=True)
    consented_at: datetime | None = _ts(nullable=True)
    declined_at: datetime | None = _ts(nullable=True)  # declined the privacy notice; cleared on consent
    link_failures: int = 0
    link_locked_until: datetime | None = _ts(nullable=True)
    conversation: dict | None = Field(default=None, sa_type=JSON)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class WebhookEvent(SQLModel, table=True):
    """A LINE webhook event, stored once by its webhookEventId before anything is done with it."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_lane_status", "lane", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    webhook_event_id: str = Field(max_length=64, unique=True)
    lane: str = Field(max_length=100)
    event_type: str = Field(max_length=40)
    body: dict = Field(sa_type=JSON)
    redelivery: bool = False
    status: str = Field(default="pending", max_length=10, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    received_at: datetime = _ts()
    processed_at: datetime | None = _ts(nullable=True)
    # a temporary database error leaves the event pending: tried again from `retry_at` on, given up
    # (failed) when the errors have gone on for too long since `failing_since`
    retry_at: datetime | None = _ts(nullable=True)
    failing_since: datetime | None = _ts(nullable=True)


class EventLane(SQLModel, table=True):
    """A lease that lets one worker at a time process one LINE user's events, in order."""

    __tablename__ = "event_lanes"

    key: str = Field(primary_key=True, max_length=100)
    leased_until: datetime | None = _ts(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        CheckConstraint("status in ('pending', 'sent', 'failed', 'cancelled')", name="ck_outbox_status"),
        CheckConstraint("messages IS NOT NULL OR body_id IS NOT NULL", name="ck_outbox_has_messages"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = _fk("customers.id")
    channel: str = Field(default="line", max_length=20)
    address: str = Field(max_length=100)
    category: str = Field(max_length=20)
    # the LINE messages; or, for a campaign's rows, a shared body with this row's `fill` put in its mark
    messages: list | None = Field(default=None, sa_type=JSON)
    body_id: int | None = _fk("outbox_bodies.id", index=False)
    fill: str | None = Field(default=None, sa_type=Text)  # JSON-escaped text for the body's mark (a name)
    reply_token: str | None = Field(default=None, max_length=100)
    reply_token_expires_at: datetime | None = _ts(nullable=True)
    retry_key: str = Field(max_length=36, unique=True)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    status: str = Field(default="pending", max_length=10)
    sent_via: str | None = Field(default=None, max_length=10)
    attempts: int = 0
    # Written and committed before a request leaves for LINE; cleared once LINE's answer is recorded.
    # Still set afterwards means the outcome is unknown (a crash, or no answer): LINE may have taken it.
    sending_via: str | None = Field(default=None, max_length=10)
    attempted_at: datetime | None = _ts(nullable=True)
    first_attempted_at: datetime | None = _ts(nullable=True)  # retries stop 24 hours after this
    last_error: str | None = Field(default=None, sa_type=Text)
    not_before: datetime | None = _ts(nullable=True)
    claimed_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    # why a pending row is not going now (`quiet_hours`, `quota`); cleared when it goes
    held_reason: str | None = Field(default=None, max_length=20)
    # the multicast this row went (or goes) out in: it is only ever sent again as part of it
    batch_id: int | None = _fk("outbox_batches.id")
    # a booking's reminder: it goes only while the booking is still booked (checked again at delivery)
    booking_id: int | None = _fk("bookings.id", index=False)


class OutboxBody(SQLModel, table=True):
    """LINE messages many outbox rows share but for one piece of text (the customer's name).

    A campaign writes each distinct message once here and a small row per customer in `outbox`,
    instead of a kilobyte and a half of the same JSON a hundred thousand times.
    """

    __tablename__ = "outbox_bodies"

    id: int | None = Field(default=None, primary_key=True)
    messages: str = Field(sa_type=Text)  # JSON text with `crm_core.outbox.FILL` where each row's fill goes
    created_at: datetime = _ts()


class OutboxBatch(SQLModel, table=True):
    """Identical messages to several customers, sent as one multicast under one retry key.

    Written and committed (with its rows' `batch_id`) before the request leaves, so a dispatcher
    that dies resends the same batch with the same key and LINE answers 409 if it had taken it.
    """

    __tablename__ = "outbox_batches"

    id: int | None = Field(default=None, primary_key=True)
    retry_key: str = Field(max_length=36, unique=True)
    endpoint: str = Field(default="multicast", max_length=20)
    status: str = Field(default="pending", max_length=10)  # pending, sent, failed
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)


class RateLimit(SQLModel, table=True):
    """Pacing shared by every dispatcher thread and process: the next free moment per LINE endpoint.

    A dispatcher reserves a short run of request slots at a time by moving `available_at` forward.
    """

    __tablename__ = "rate_limits"

    endpoint: str = Field(primary_key=True, max_length=20)
    available_at: float = 0.0  # seconds since the epoch (wall time, shared between hosts)


class TimelineEntry(SQLModel, table=True):
    """Something that happened with a customer (or a LINE user not yet a customer)."""

    __tablename__ = "timeline"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = _fk("customers.id")
    identity_id: int | None = _fk("channel_identities.id")
    kind: str = Field(max_length=40)
    summary: str | None = Field(default=None, sa_type=Text)
    data: dict | None = Field(default=None, sa_type=JSON)
    staff_user_id: int | None = _fk("staff_users.id", index=False)
    occurred_at: datetime = _ts(index=True)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint("role in ('staff', 'marketer', 'admin')", name="ck_staff_role"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    display_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    home_store_id: int | None = _fk("stores.id", index=False)
    active: bool = True
    session_epoch: int = 0  # raised on disable and password reset: sessions opened before end at once
    created_at: datetime = _ts()
    last_login_at: datetime | None = _ts(nullable=True)
    # the staff member's own LINE account, linked by sending the shop a code from the console: test sends go there
    line_user_id: str | None = Field(default=None, max_length=100, unique=True)


class StaffSession(SQLModel, table=True):
    """An open console session; the signed cookie holds only a random id whose SHA-256 is `id`."""

    __tablename__ = "staff_sessions"

    id: str = Field(primary_key=True, max_length=64)
    staff_user_id: int = _fk("staff_users.id", nullable=False, ondelete="CASCADE")
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    user_agent: str | None = Field(default=None, max_length=120)  # a summary such as "Chrome on Android"
    client_address: str | None = Field(default=None, max_length=45)


class ApiToken(SQLModel, table=True):
    """A REST API token; only its SHA-256 is stored, the raw token is shown once."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    scopes: str | None = Field(default=None, max_length=500)  # space-separated; None: every scope (older tokens)
    store_id: int | None = _fk("stores.id", index=False)  # only this store's purchases and refunds


class AccountLinkNonce(SQLModel, table=True):
    """LINE account link: the nonce we hand LINE for a customer who logged in on our page."""

    __tablename__ = "account_link_nonces"

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=128, unique=True)
    customer_id: int = _fk("customers.id", nullable=False)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)


class Product(SQLModel, table=True):
    __tablename__ = "products"

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    category: str = Field(max_length=100)
    price: int = Field(ge=0)


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (
        CheckConstraint("total >= 0", name="ck_purchase_total"),
        CheckConstraint("refunded_total >= 0 AND refunded_total <= total", name="ck_purchase_refunded"),
        CheckConstraint("points_used >= 0 AND points_used <= total", name="ck_purchase_points_used"),
        CheckConstraint("discount >= 0", name="ck_purchase_discount"),
        Index("ix_purchases_customer_occurred", "customer_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    customer_id: int = _fk("customers.id", nullable=False)
    store_id: int = _fk("stores.id", nullable=False)
    total: int
    refunded_total: int = 0
    points_earned: int = 0
    points_used: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # paid with points, 1 pt = ¥1
    # yen a coupon took off before `total` (what the customer pays, in yen and points): the price was total + discount
    discount: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    earning: dict | None = Field(default=None, sa_type=JSON)  # the earning rule it was granted by (refunds reuse it)
    staff_user_id: int | None = _fk("staff_users.id", index=False)
    source: str = Field(default="api", max_length=20)
    occurred_at: datetime = _ts(index=True)
    created_at: datetime = _ts()


class Refund(SQLModel, table=True):
    """Money given back for part or all of a purchase; its points are reversed with it."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="ck_refund_amount"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=100, unique=True)
    purchase_id: int = _fk("purchases.id", nullable=False)
    amount: int
    points_reversed: int = 0
    points_returned: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # of the points paid with
    occurred_at: datetime = _ts()
    created_at: datetime = _ts()


class PurchaseItem(SQLModel, table=True):
    __tablename__ = "purchase_items"

    id: int | None = Field(default=None, primary_key=True)
    purchase_id: int = _fk("purchases.id", nullable=False, ondelete="CASCADE")
    sku: str = Field(max_length=64)
    name: str = Field(max_length=200)
    category: str = Field(max_length=100)
    quantity: int
    unit_price: int


class ShopSetting(SQLModel, table=True):
    """Shop-wide settings changed in the console (quiet hours, privacy contact, ...)."""

    __tablename__ = "shop_settings"

    key: str = Field(primary_key=True, max_length=100)
    value: dict | list | str | int | None = Field(default=None, sa_type=JSON)


class LoginAttempt(SQLModel, table=True):
    """A failed console login, kept briefly so wrong passwords can be throttled across processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_occurred_at", "email", "occurred_at"),
        Index("ix_login_attempts_client_address_occurred_at", "client_address", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    occurred_at: datetime = _ts()
    client_address: str | None = Field(default=None, max_length=45)


class HelperHeartbeat(SQLModel, table=True):
    """A helper process (the scheduler, an event worker) saying it is alive; /healthz reads them."""

    __tablename__ = "helper_heartbeats"
    __table_args__ = (UniqueConstraint("host", "pid", name="uq_helper_heartbeats_host_pid"),)

    id: int | None = Field(default=None, primary_key=True)
    helper: str = Field(max_length=20)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = _ts()
    beat_at: datetime = _ts(index=True)


class PointAccount(SQLModel, table=True):
    """A customer's cached point balance, updated in the same transaction as the ledger.

    The row is also the lock that serializes one customer's spends; the CHECK makes an overdraft
    impossible whatever the code above it does.
    """

    __tablename__ = "point_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="ck_point_account_balance"),)

    customer_id: int = Field(sa_column=Column(Integer, ForeignKey("customers.id"), primary_key=True))
    balance: int = 0
    stamps: int = 0
    updated_at: datetime = _ts()


class PointEntry(SQLModel, table=True):
    """One line of the append-only points ledger (signed amount); never updated or deleted."""

    __tablename__ = "point_entries"
    __table_args__ = (
        CheckConstraint(
            "kind in ('grant', 'spend', 'expire', 'reverse', 'adjust', 'refund', 'return')",
            name="ck_point_entry_kind",
        ),
        Index("ix_point_entries_customer_occurred", "customer_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = _fk("customers.id", nullable=False, index=False)
    kind: str = Field(max_length=20)
    amount: int
    idempotency_key: str = Field(max_length=200, unique=True)
    purchase_id: int | None = _fk("purchases.id")
    reverses_entry_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("point_entries.id"), nullable=True, unique=True),
    )
    store_id: int | None = _fk("stores.id", index=False)
    staff_user_id: int | None = _fk("staff_users.id", index=False)
    reason: str | None = Field(default=None, max_length=500)
    occurred_at: datetime = _ts()
    created_at: datetime = _ts()


class PointLot(SQLModel, table=True):
    """The points one grant added, with their own expiry; `remaining` shrinks as they are used.

    `owed`: points of this lot a refund wanted back but found already used; when used points come back
    to the lot (a spend undone), they settle this first instead of coming back to life.
    """

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="ck_point_lot_remaining"),
        CheckConstraint("owed >= 0 AND owed <= amount", name="ck_point_lot_owed"),
        Index("ix_point_lots_customer_expiry", "customer_id", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(sa_column=Column(Integer, ForeignKey("point_entries.id"), nullable=False, unique=True))
    customer_id: int = _fk("customers.id", nullable=False, index=False)
    amount: int = Field(gt=0)
    remaining: int
    owed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    available_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)


class PointAllocation(SQLModel, table=True):
    """Which lot an entry took points from (positive) or gave them back to (negative)."""

    __tablename__ = "point_allocations"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = _fk("point_entries.id", nullable=False)
    lot_id: int = _fk("point_lots.id", nullable=False)
    amount: int


class StampVisit(SQLModel, table=True):
    """A stamp on a stamp card: at most one per customer per business day."""

    __tablename__ = "stamp_visits"
    __table_args__ = (UniqueConstraint("customer_id", "visit_date", name="uq_stamp_visit_day"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = _fk("customers.id", nullable=False, index=False)
    visit_date: date
    store_id: int | None = _fk("stores.id", index=False)
    purchase_id: int | None = _fk("purchases.id", index=False)
    staff_user_id: int | None = _fk("staff_users.id", index=False)
    created_at: datetime = _ts()


class Reward(SQLModel, table=True):
    """Something a customer earned and can use once (a stamp-card reward today; coupons build on it)."""

    __tablename__ = "rewards"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = _fk("customers.id", nullable=False)
    code: str = Field(max_length=32, unique=True)
    kind: str = Field(max_length=20)
    title: str = Field(max_length=200)
    source_key: str = Field(max_length=200, unique=True)
    issued_at: datetime = _ts()
    expires_at: datetime = _ts()
    redeemed_at: datetime | None = _ts(nullable=True)
    redeemed_store_id: int | None = _fk("stores.id", index=False)


class Automation(SQLModel, table=True):
    """One built-in automation (first purchase, replenishment, ...): on or off, its hold-out share, its wording."""

    __tablename__ = "automations"
    __table_args__ = (
        CheckConstraint("holdout_percent >= 0 AND holdout_percent <= 50", name="ck_automation_holdout_percent"),
    )

    key: str = Field(primary_key=True, max_length=40)
    enabled: bool = False
    holdout_percent: int = 10
    templates: dict | None = Field(default=None, sa_type=JSON)  # {"ja": {"text": ...}, "en": {...}}; None: built-in
    updated_at: datetime | None = _ts(nullable=True)
    updated_by: int | None = _fk("staff_users.id", index=False)


class AutomationHoldout(SQLModel, table=True):
    """Whether a customer is in an automation's hold-out group, fixed the first time it decided for them."""

    __tablename__ = "automation_holdouts"

    automation: str = Field(primary_key=True, max_length=40)
    # no foreign key here nor in the decisions: the engine writes a campaign's million rows from customers it
    # has just read, and customers are never deleted (erasure blanks them); a key checked per row cost PostgreSQL
    # more than a third of the writing (bench/README.md, pushes.py)
    customer_id: int = Field(sa_column=Column(Integer, primary_key=True))
    in_holdout: bool
    assigned_at: datetime = _ts()


class AutomationDecision(SQLModel, table=True):
    """What an automation decided for one customer and one occurrence: send, hold out or skip (with why)."""

    __tablename__ = "automation_decisions"
    __table_args__ = (
        UniqueConstraint("automation", "customer_id", "occurrence", name="uq_automation_decision_occurrence"),
        CheckConstraint("outcome in ('send', 'holdout', 'skipped')", name="ck_automation_decision_outcome"),
        Index("ix_automation_decisions_automation_day", "automation", "business_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    automation: str = Field(max_length=40)
    customer_id: int = Field(sa_column=Column(Integer, nullable=False, index=True))  # no foreign key: see above
    occurrence: str = Field(max_length=120)
    outcome: str = Field(max_length=10)
    reason: str | None = Field(default=None, max_length=20)  # skipped: cap, opted_out, blocked, no_consent, no_line
    outbox_id: int | None = None  # the send's outbox row, written in the same transaction (no key checked)
    decided_at: datetime = _ts()
    business_day: date
    context: dict | None = Field(default=None, sa_type=JSON)


class ProductPair(SQLModel, table=True):
    """Item-to-item co-occurrence: `score` customers bought both `sku` and `other_sku`; `rank` 1 is the best."""

    __tablename__ = "product_pairs"
    __table_args__ = (Index("ix_product_pairs_sku_rank", "sku", "rank"),)

    sku: str = Field(primary_key=True, max_length=64)
    other_sku: str = Field(primary_key=True, max_length=64)
    score: int
    rank: int


class RepurchaseInterval(SQLModel, table=True):
    """How often a product is bought again: a customer's own median gap, or (customer_id NULL) the product's.

    A customer's row also keeps when they last bought it and the day a reminder is due (`due_on`),
    so the every-minute automation reads one indexed table.
    """

    __tablename__ = "repurchase_intervals"
    __table_args__ = (
        Index("ix_repurchase_intervals_due_on", "due_on"),
        Index("ix_repurchase_intervals_customer_sku", "customer_id", "sku"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = _fk("customers.id", index=False)
    sku: str = Field(max_length=64)
    interval_days: int
    purchases: int  # how many purchases of it the interval is based on (the customer's, or all customers')
    own: bool = False  # the customer's own interval (True) or the product's typical one
    last_purchased_at: datetime | None = _ts(nullable=True)
    last_purchased_on: date | None = None  # the business day of last_purchased_at
    due_on: date | None = None


class SchedulerLease(SQLModel, table=True):
    """Which scheduler process runs the jobs (crm_core.leadership): on SQLite the lease itself, taken over
    once `leased_until` passed; on PostgreSQL (where an advisory lock decides) the record `kizuna jobs` shows."""

    __tablename__ = "scheduler_leases"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=300)  # host/pid/random: a later process with the same pid is someone else
    host: str = Field(max_length=255)
    pid: int
    since: datetime = _ts()
    leased_until: datetime = _ts()


class Coupon(SQLModel, table=True):
    """A coupon a marketer defined: its benefit, validity, stock and how customers obtain it.

    `issued` counts the coupons handed out; the CHECK (with the conditional UPDATE that raises it,
    crm_core.coupons) makes handing out more than `stock` impossible whatever runs at once.
    """

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(
            "benefit_kind in ('yen_off', 'percent_off', 'free_item', 'gift')", name="ck_coupon_benefit_kind"
        ),
        CheckConstraint("obtain in ('claim', 'flow', 'points', 'lottery')", name="ck_coupon_obtain"),
        CheckConstraint("benefit_value >= 0", name="ck_coupon_benefit_value"),
        CheckConstraint("min_purchase >= 0", name="ck_coupon_min_purchase"),
        CheckConstraint("stock IS NULL OR (stock >= 0 AND issued <= stock)", name="ck_coupon_stock"),
        CheckConstraint("issued >= 0", name="ck_coupon_issued"),
        CheckConstraint("per_customer_limit IS NULL OR per_customer_limit >= 1", name="ck_coupon_per_customer"),
        CheckConstraint("valid_days IS NOT NULL OR valid_until IS NOT NULL", name="ck_coupon_validity"),
        CheckConstraint("valid_days IS NULL OR valid_days >= 1", name="ck_coupon_valid_days"),
        CheckConstraint("points_cost IS NULL OR points_cost >= 1", name="ck_coupon_points_cost"),
        CheckConstraint(
            "win_basis_points IS NULL OR (win_basis_points >= 0 AND win_basis_points <= 10000)",
            name="ck_coupon_win_basis_points",
        ),
        CheckConstraint("code_alphabet in ('mixed', 'digits')", name="ck_coupon_code_alphabet"),
        CheckConstraint("code_length >= 6 AND length(code_prefix) + code_length <= 32", name="ck_coupon_code_length"),
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    image_url: str | None = Field(default=None, max_length=500)
    benefit_kind: str = Field(max_length=20)
    benefit_value: int = 0  # yen off, or percent off; 0 for a free item or a gift
    benefit_cap: int | None = None  # percent_off: at most this many yen
    benefit_item: str | None = Field(default=None, max_length=200)  # free_item, gift: what it is
    min_purchase: int = 0  # yen
    valid_from: date | None = None  # business days, inclusive
    valid_until: date | None = None
    valid_days: int | None = None  # N business days from the day of issue, that day included
    stock: int | None = None  # None: unlimited
    issued: int = 0
    per_customer_limit: int | None = None  # None: no limit (CouponSpec defaults to 1)
    obtain: str = Field(default="claim", max_length=20)
    points_cost: int | None = None  # obtain == 'points'
    win_basis_points: int | None = None  # obtain == 'lottery': 10000 is always
    active: bool = True  # False: stopped, no more handed out; coupons held stay usable until they expire
    code_prefix: str = Field(default="", max_length=8, sa_column_kwargs={"server_default": ""})
    code_alphabet: str = Field(default="mixed", max_length=10, sa_column_kwargs={"server_default": "mixed"})
    code_length: int = Field(default=12, sa_column_kwargs={"server_default": "12"})  # after the prefix
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CouponStore(SQLModel, table=True):
    """A store where a coupon is valid; a coupon without any is valid in every store."""

    __tablename__ = "coupon_stores"

    coupon_id: int = Field(sa_column=Column(Integer, ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True))
    store_id: int = Field(sa_column=Column(Integer, ForeignKey("stores.id"), primary_key=True))


class CustomerCoupon(SQLModel, table=True):
    """A coupon a customer holds, used once: `issued` until redeemed (or voided).

    (coupon, customer, seq) is unique: the n-th coupon of one kind a customer gets has seq n, so two
    claims at once cannot both be the first; redeeming is a conditional UPDATE from `issued`.
    """

    __tablename__ = "customer_coupons"
    __table_args__ = (
        UniqueConstraint("coupon_id", "customer_id", "seq", name="uq_customer_coupon_seq"),
        CheckConstraint("status in ('issued', 'redeemed', 'void')", name="ck_customer_coupon_status"),
        CheckConstraint("status <> 'redeemed' OR redeemed_at IS NOT NULL", name="ck_customer_coupon_redeemed"),
        CheckConstraint("discount IS NULL OR discount >= 0", name="ck_customer_coupon_discount"),
        Index("ix_customer_coupons_customer_status", "customer_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    coupon_id: int = _fk("coupons.id", nullable=False, index=False)
    customer_id: int = _fk("customers.id", nullable=False, index=False)
    seq: int
    obtained_by: str = Field(max_length=20)  # claim, api, flow, points, lottery
    idempotency_key: str = Field(max_length=200, unique=True)
    issued_at: datetime = _ts()
    expires_at: datetime = _ts()
    status: str = Field(default="issued", max_length=10)
    redeemed_at: datetime | None = _ts(nullable=True)
    store_id: int | None = _fk("stores.id", index=False)  # where it was redeemed
    purchase_id: int | None = _fk("purchases.id", index=False)
    discount: int | None = None  # yen taken off the purchase
    point_entry_id: int | None = _fk("point_entries.id", index=False)  # the points it was exchanged for


class CouponDraw(SQLModel, table=True):
    """One lottery draw by one customer, won or lost; (coupon, customer, seq) unique like the coupons."""

    __tablename__ = "coupon_draws"
    __table_args__ = (UniqueConstraint("coupon_id", "customer_id", "seq", name="uq_coupon_draw_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    coupon_id: int = _fk("coupons.id", nullable=False, index=False)
    customer_id: int = _fk("customers.id", nullable=False, index=False)
    seq: int
    won: bool
    customer_coupon_id: int | None = _fk("customer_coupons.id", index=False)
    idempotency_key: str = Field(max_length=200, unique=True)
    drawn_at: datetime = _ts()


# APScheduler's SQLAlchemyJobStore table, exactly as APScheduler 3 defines it (it only creates it when
# missing): made by migration 0012 and listed here so the migrations-match-the-models check covers it.
apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)


class CustomerTag(SQLModel, table=True):
    """A label staff or an import gave a customer (`coffee-lover`, `vip`), for segments."""

    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_tag", "tag"),)

    customer_id: int = Field(sa_column=Column(Integer, ForeignKey("customers.id"), primary_key=True))
    tag: str = Field(primary_key=True, max_length=50)
    created_at: datetime = _ts()


class Segment(SQLModel, table=True):
    """A saved audience: rules on member attributes, purchase behaviour and engagement (crm_core.segments)."""

    __tablename__ = "segments"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    rules: dict = Field(sa_type=JSON)  # {"match": "all" | "any", "conditions": [{"field": ..., ...}, ...]}
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    updated_by: int | None = _fk("staff_users.id", index=False)


class CouponFlow(SQLModel, table=True):
    """A marketer's coupon flow: on a trigger, to a segment, a message with a coupon, through the push engine.

    The engine decides it as the automation `flow:<id>` (decisions, hold-outs, weekly cap, quiet hours,
    results), and issues the coupon in the same transaction as each `send` decision.
    """

    __tablename__ = "coupon_flows"
    __table_args__ = (
        CheckConstraint(
            "trigger in ('member_joined', 'nth_purchase', 'birthday_month', 'lapsed', 'points_threshold',"
            " 'tier_reached', 'scheduled')",
            name="ck_coupon_flow_trigger",
        ),
        CheckConstraint("holdout_percent >= 0 AND holdout_percent <= 50", name="ck_coupon_flow_holdout"),
        CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="ck_coupon_flow_dates"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    trigger: str = Field(max_length=20)
    params: dict = Field(sa_type=JSON)  # the trigger's numbers: {"n": 3}, {"days": 60}, {"points": 500}, ...
    segment_id: int | None = _fk("segments.id", index=False)  # None: every customer
    coupon_id: int = _fk("coupons.id", nullable=False, index=False)
    templates: dict | None = Field(default=None, sa_type=JSON)  # {"ja": {"text": ...}, "en": {...}}; None: built-in
    holdout_percent: int = 10
    starts_on: date | None = None  # business days, inclusive
    ends_on: date | None = None
    paused: bool = False
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    updated_by: int | None = _fk("staff_users.id", index=False)


class ReservationSettings(SQLModel, table=True):
    """How a store takes bookings: its time zone, the grid of start times, how far ahead and how late one may
    book, until when customers may cancel or change on LINE, and how long a chosen time is held."""

    __tablename__ = "reservation_settings"
    __table_args__ = (
        CheckConstraint("slot_minutes >= 5 AND slot_minutes <= 240 AND slot_minutes % 5 = 0", name="ck_rs_slot"),
        CheckConstraint("horizon_days >= 1 AND horizon_days <= 365", name="ck_rs_horizon"),
        CheckConstraint("min_notice_minutes >= 0 AND min_notice_minutes <= 10080", name="ck_rs_notice"),
        CheckConstraint("cancel_deadline_minutes >= 0 AND cancel_deadline_minutes <= 10080", name="ck_rs_cancel"),
        CheckConstraint("hold_minutes >= 1 AND hold_minutes <= 30", name="ck_rs_hold"),
    )

    store_id: int = Field(sa_column=Column(Integer, ForeignKey("stores.id"), primary_key=True))
    time_zone: str | None = Field(default=None, max_length=64)  # None: the shop's (KIZUNA_TIMEZONE)
    slot_minutes: int = 30  # start times every this many minutes from each opening
    horizon_days: int = 60  # bookable up to this many days ahead
    min_notice_minutes: int = 60  # bookable up to this long before the start
    cancel_deadline_minutes: int = 1440  # customers cancel or change on LINE up to this long before the start
    hold_minutes: int = 5  # a chosen time is kept this long while the customer confirms
    feed_version: int = 1  # in the calendar feed's signed address: raised to end every earlier address
    updated_at: datetime | None = _ts(nullable=True)


class BookingResource(SQLModel, table=True):
    """What a booking takes a place in: a stylist or a room (1 place), seats or a team (several places).

    A menu without resources of its own has a private one (`menu_id` set) with the menu's capacity.
    """

    __tablename__ = "booking_resources"
    __table_args__ = (
        UniqueConstraint("store_id", "code", name="uq_booking_resource_code"),
        CheckConstraint("capacity >= 1 AND capacity <= 1000", name="ck_booking_resource_capacity"),
    )

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = _fk("stores.id", nullable=False, index=False)
    code: str = Field(max_length=40)
    name: str = Field(max_length=100)
    capacity: int = 1  # places at the same time
    menu_id: int | None = _fk("booking_menus.id", index=False)  # a menu's private capacity
    active: bool = True
    created_at: datetime = _ts()


class BookingMenu(SQLModel, table=True):
    """Something a customer books: a cut, a consultation, a table for a course; its length and price."""

    __tablename__ = "booking_menus"
    __table_args__ = (
        UniqueConstraint("store_id", "code", name="uq_booking_menu_code"),
        CheckConstraint(
            "duration_minutes >= 5 AND duration_minutes <= 720 AND duration_minutes % 5 = 0",
            name="ck_booking_menu_duration",
        ),
        CheckConstraint("price >= 0", name="ck_booking_menu_price"),
    )

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = _fk("stores.id", nullable=False, index=False)
    code: str = Field(max_length=40)
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=300)
    duration_minutes: int
    price: int = 0  # yen, tax included
    position: int = 0  # order on LINE and in the console
    active: bool = True
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class BookingMenuResource(SQLModel, table=True):
    """A menu takes one place in any one of its resources (any free stylist)."""

    __tablename__ = "booking_menu_resources"

    menu_id: int = Field(sa_column=Column(Integer, ForeignKey("booking_menus.id"), primary_key=True))
    resource_id: int = Field(sa_column=Column(Integer, ForeignKey("booking_resources.id"), primary_key=True))


class Booking(SQLModel, table=True):
    """A customer's booking of a menu at a store: held while they confirm, then booked, then arrived or no-show.

    `held` rows whose hold ran out count for nothing (their claims may be taken); `released` ones were
    given up for another time. A move makes a new booking (`replaces_id`) and cancels the old one.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(
            "status in ('held', 'released', 'booked', 'cancelled', 'arrived', 'no_show')", name="ck_booking_status"
        ),
        CheckConstraint("ends_at > starts_at", name="ck_booking_times"),
        CheckConstraint("price >= 0", name="ck_booking_price"),
        CheckConstraint("status <> 'held' OR hold_expires_at IS NOT NULL", name="ck_booking_hold"),
        Index("ix_bookings_store_starts", "store_id", "starts_at"),
        Index("ix_bookings_customer_starts", "customer_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    store_id: int = _fk("stores.id", nullable=False, index=False)
    menu_id: int = _fk("booking_menus.id", nullable=False, index=False)
    resource_id: int = _fk("booking_resources.id", nullable=False, index=False)
    customer_id: int = _fk("customers.id", nullable=False, index=False)
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    status: str = Field(default="held", max_length=10)
    hold_expires_at: datetime | None = _ts(nullable=True)
    price: int = 0  # the menu's price when booked
    source: str = Field(max_length=10)  # line, console, api
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    replaces_id: int | None = _fk("bookings.id", index=False)
    note: str | None = Field(default=None, max_length=500)
    remind_eve_at: datetime | None = _ts(nullable=True)  # 18:00 the day before, when still ahead at booking
    remind_soon_at: datetime | None = _ts(nullable=True)  # two hours before, when still ahead at booking
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    created_by: int | None = _fk("staff_users.id", index=False)
    changed_by: int | None = _fk("staff_users.id", index=False)  # who cancelled, moved or marked it (staff)


class BookingClaim(SQLModel, table=True):
    """One place of a resource for one 5-minute unit, taken by a booking.

    The key (resource, unit, place) with places 1..capacity is what makes overbooking impossible
    whatever runs at once: a booking takes a free place in every unit it spans or is refused. A hold's
    claims carry `expires_at`; once past, another booking may take the place over (a conditional
    UPDATE), so a hold needs no job to run out.
    """

    __tablename__ = "booking_claims"
    __table_args__ = (CheckConstraint("place >= 1", name="ck_booking_claim_place"),)

    resource_id: int = Field(sa_column=Column(Integer, ForeignKey("booking_resources.id"), primary_key=True))
    starts_at: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    place: int = Field(primary_key=True)
    booking_id: int = _fk("bookings.id", nullable=False)
    expires_at: datetime | None = _ts(nullable=True)
