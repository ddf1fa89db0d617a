"""The loyalty program a shop configures: points per yen, tiers, validity, pending days, stamp mode.

Stored as one JSON document in shop settings; read with `get_program`, changed with `save_program`.
All arithmetic is on integers: yen, points, and multipliers in percent.
"""

from __future__ import annotations

import time as clock_time
import weakref
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_core import shop
from crm_core.errors import N_, InvalidInput
from crm_core.uow import UnitOfWork

PROGRAM_KEY = "loyalty.program"
VALIDITY_KINDS = ("days", "end_of_next_year")
MODES = ("points", "stamps")
EARN_ON = ("paid", "gross")  # points on the yen paid (points used taken off), or on the whole total


@dataclass(frozen=True)
class Tier:
    name: str
    min_spend: int  # yen over the last 12 months
    multiplier_pct: int  # 100 = x1, 150 = x1.5


@dataclass(frozen=True)
class Program:
    mode: str = "points"
    yen_per_point: int = 100  # 1 point per ¥100, rounding down
    points_per_unit: int = 1
    tiers: tuple[Tier, ...] = field(
        default_factory=lambda: (
            Tier("regular", 0, 100),
            Tier("silver", 30_000, 150),
            Tier("gold", 100_000, 200),
        )
    )
    validity_kind: str = "days"
    validity_days: int = 365
    pending_days: int = 0
    earn_on: str = "paid"
    stamp_goal: int = 10
    stamp_reward_title: str = "Free drink"
    stamp_reward_days: int = 90
    stamp_reward_coupon_id: int | None = None  # the coupon a full card gives; None: a gift made from the two above

    def tier_for(self, spend: int) -> Tier:
        eligible = [tier for tier in self.tiers if spend >= tier.min_spend]
        return max(eligible, key=lambda tier: tier.min_spend) if eligible else self.tiers[0]

    def next_tier(self, spend: int) -> tuple[Tier, int] | None:
        """The next tier up and the yen still missing for it, or None at the top."""
        higher = sorted((t for t in self.tiers if t.min_spend > spend), key=lambda t: t.min_spend)
        return (higher[0], higher[0].min_spend - spend) if higher else None

    def tier_named(self, name: str) -> Tier:
        return next((tier for tier in self.tiers if tier.name == name), self.tiers[0])

    def points_for(self, amount: int, multiplier_pct: int = 100) -> int:
        """Points for a yen amount: whole units only (¥199 at ¥100/pt is 1 pt), then the tier multiplier."""
        if amount <= 0:
            return 0
        return (amount // self.yen_per_point) * self.points_per_unit * multiplier_pct // 100

    def earning(self, multiplier_pct: int = 100) -> dict:
        """The rule a purchase earns by, kept with it so refunds take back by the same rule."""
        return {
            "yen_per_point": self.yen_per_point,
            "points_per_unit": self.points_per_unit,
            "multiplier_pct": multiplier_pct,
            "earn_on": self.earn_on,
        }

    def expiry_for(self, granted_at: datetime, zone: ZoneInfo) -> datetime:
        """When points granted at `granted_at` expire (end of the business day in the shop's zone)."""
        local = granted_at.astimezone(zone)
        if self.validity_kind == "end_of_next_year":
            last_day = date(local.year + 1, 12, 31)
        else:
            last_day = local.date() + timedelta(days=self.validity_days)
        return datetime.combine(last_day + timedelta(days=1), time(0), zone)

    def available_from(self, granted_at: datetime) -> datetime:
        return granted_at + timedelta(days=self.pending_days)

    def as_dict(self) -> dict:
        return asdict(self)


def _check(program: Program) -> Program:
    def positive(value, what: str, allow_zero: bool = False, most: int = 10_000) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
            raise InvalidInput(N_("%(what)s must be a whole number above zero."), what=what)
        if value > most:
            raise InvalidInput(N_("%(what)s may be at most %(most)d."), what=what, most=most)

    if program.mode not in MODES:
        raise InvalidInput(N_("The card type must be points or stamps."))
    positive(program.yen_per_point, "yen_per_point", most=1_000_000)
    positive(program.points_per_unit, "points_per_unit", most=1_000)
    positive(program.validity_days, "validity_days", most=3_650)
    positive(program.pending_days, "pending_days", allow_zero=True, most=365)
    positive(program.stamp_goal, "stamp_goal", most=100)
    positive(program.stamp_reward_days, "stamp_reward_days", most=3_650)
    if program.stamp_reward_coupon_id is not None:
        positive(program.stamp_reward_coupon_id, "stamp_reward_coupon_id", most=2**31 - 1)
    if program.earn_on not in EARN_ON:
        raise InvalidInput(N_("Points must be earned on the amount paid in yen or on the whole total."))
    if program.validity_kind not in VALIDITY_KINDS:
        raise InvalidInput(N_("Point validity must be a number of days or the end of the following year."))
    if not program.tiers or not any(tier.min_spend == 0 for tier in program.tiers):
        raise InvalidInput(N_("There must be a first tier that starts at ¥0."))
    names = [tier.name for tier in program.tiers]
    if len(set(names)) != len(names) or not all(name.strip() for name in names):
        raise InvalidInput(N_("Every tier needs its own name."))
    for tier in program.tiers:
        positive(tier.min_spend, "min_spend", allow_zero=True, most=100_000_000)
        positive(tier.multiplier_pct, "multiplier_pct", most=1_000)
    return replace(program, tiers=tuple(sorted(program.tiers, key=lambda tier: tier.min_spend)))


def program_from_dict(data: dict) -> Program:
    known = {name for name in Program.__dataclass_fields__}
    values = {key: value for key, value in (data or {}).items() if key in known}
    if "tiers" in values:
        values["tiers"] = tuple(Tier(**tier) for tier in values["tiers"])
    return _check(Program(**values))


# engine -> (read at, program): every sale reads the program, and it changes a few times a year
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CACHE_SECONDS = 5.0


def get_program(*, uow: UnitOfWork) -> Program:
    """The program in force (read at most every 5 s per process; a save here is seen at once)."""
    engine = uow.session.get_bind()
    cached = _CACHE.get(engine)
    if cached is not None and clock_time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    stored = shop.get_setting(uow=uow, key=PROGRAM_KEY)
    program = program_from_dict(stored) if stored else Program()
    _CACHE[engine] = (clock_time.monotonic(), program)
    return program


def save_program(*, uow: UnitOfWork, program: Program) -> Program:
    program = _check(program)
    shop.set_setting(uow=uow, key=PROGRAM_KEY, value=program.as_dict())
    _CACHE.pop(uow.session.get_bind(), None)
    return program
