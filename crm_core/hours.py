"""Business hours: opening intervals per weekday, closed dates and dates with special hours.

The shop's hours are a shop setting (`shop.business_hours`); a store may have its own
(`stores.business_hours`, None meaning the shop's). The staff inbox and reservations ask `is_open`
and `next_opening`, always in the shop's business time zone.

JSON form, as stored and as the API takes it::

    {"weekly": {"mon": ["10:00-19:00"], ..., "sun": []},
     "holidays": ["2026-12-31"], "special": {"2026-12-30": ["10:00-15:00"]}}
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_core import shop
from crm_core.errors import N_, InvalidInput
from crm_core.models import Store
from crm_core.uow import UnitOfWork

SETTING_KEY = "shop.business_hours"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = {
    "mon": N_("Monday"),
    "tue": N_("Tuesday"),
    "wed": N_("Wednesday"),
    "thu": N_("Thursday"),
    "fri": N_("Friday"),
    "sat": N_("Saturday"),
    "sun": N_("Sunday"),
}
MAX_INTERVALS_PER_DAY = 6
MAX_DATES = 400  # closed days and special days together: a few years ahead
DAY_MINUTES = 24 * 60
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_DASHES = re.compile(r"\s*[-~\u301c\uff5e\u2010-\u2015\u2212\u30fc]\s*")
_SEPARATORS = re.compile(r"[,、，;\s]+")

Intervals = tuple[tuple[int, int], ...]  # (opens, closes) in minutes after midnight, closes up to 1440


@dataclass(frozen=True)
class BusinessHours:
    """Opening intervals per weekday (mon..sun; none: closed), closed dates and dates with special hours."""

    weekly: tuple[Intervals, ...] = ((),) * 7
    holidays: frozenset[date] = frozenset()
    special: dict[date, Intervals] = field(default_factory=dict)

    def intervals_on(self, day: date) -> Intervals:
        """The opening intervals of one calendar day: none on a holiday, the special ones on a special day."""
        if day in self.holidays:
            return ()
        if day in self.special:
            return self.special[day]
        return self.weekly[day.weekday()]

    def is_open(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether it is open at the moment `at` (timezone-aware), judged in business time `zone`."""
        local = _local(at, zone)
        minute = local.hour * 60 + local.minute
        return any(opens <= minute < closes for opens, closes in self.intervals_on(local.date()))

    def next_opening(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first moment at or after `after` when it is open (`after` itself while open), or None when never.

        Holidays are skipped and special days count; the answer is in `zone`.
        """
        local = _local(after, zone)
        minute = local.hour * 60 + local.minute + (1 if local.second or local.microsecond else 0)
        last_listed = max([*self.holidays, *self.special], default=local.date())
        horizon = (max(last_listed, local.date()) - local.date()).days + 8  # past the listed dates, a full week
        for offset in range(horizon):
            day = local.date() + timedelta(days=offset)
            for opens, closes in self.intervals_on(day):
                if offset == 0 and closes <= minute:
                    continue
                if offset == 0 and opens <= minute:
                    return local
                return _moment(day, opens, zone)
        return None

    def as_json(self) -> dict:
        """The JSON kept in `shop_settings` and `stores.business_hours`."""
        return {
            "weekly": {name: [format_interval(i) for i in self.weekly[n]] for n, name in enumerate(WEEKDAYS)},
            "holidays": [day.isoformat() for day in sorted(self.holidays)],
            "special": {
                day.isoformat(): [format_interval(i) for i in self.special[day]] for day in sorted(self.special)
            },
        }

    def weekly_text(self) -> dict[str, str]:
        """What a form shows per weekday: "10:00-14:00, 15:00-19:00", or "" when closed."""
        return {name: format_intervals(self.weekly[n]) for n, name in enumerate(WEEKDAYS)}

    def dates_text(self) -> str:
        """What a form shows for the dates: one per line, "2026-12-31" closed or "2026-12-30 10:00-15:00"."""
        lines = {day: day.isoformat() for day in self.holidays}
        lines.update({day: f"{day.isoformat()} {format_intervals(spans)}" for day, spans in self.special.items()})
        return "\n".join(lines[day] for day in sorted(lines))


DEFAULT_HOURS = BusinessHours(weekly=(((10 * 60, 19 * 60),),) * 7)  # a new shop: every day 10:00-19:00


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business hours compare timezone-aware moments only")
    return moment.astimezone(zone)


def _moment(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= DAY_MINUTES:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)


def format_interval(interval: tuple[int, int]) -> str:
    opens, closes = interval
    return f"{opens // 60:02d}:{opens % 60:02d}-{closes // 60:02d}:{closes % 60:02d}"


def format_intervals(intervals: Intervals) -> str:
    return ", ".join(format_interval(interval) for interval in intervals)


# -- reading what a form or JSON gives ------------------------------------------------------------


def _minutes(hours: str, minutes: str) -> int | None:
    hour, minute = int(hours), int(minutes)
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def parse_intervals(text: str | list | None, *, day: str, field_name: str) -> Intervals:
    """Opening intervals from "10:00-14:00, 15:00-19:00" (or a list of such strings); () when empty.

    `day` is the message id naming the day in errors ("Monday", "2026-12-30"); `field_name` the form field.
    """
    if isinstance(text, list):
        if not all(isinstance(part, str) for part in text):
            raise InvalidInput(N_("%(day)s: write the hours like 10:00-19:00."), day=day, field=field_name)
        text = ",".join(text)
    if text is not None and not isinstance(text, str):
        raise InvalidInput(N_("%(day)s: write the hours like 10:00-19:00."), day=day, field=field_name)
    text = unicodedata.normalize("NFKC", text or "").strip()
    text = _DASHES.sub("-", text.replace("：", ":"))
    spans = []
    for part in (piece for piece in _SEPARATORS.split(text) if piece):
        match = _INTERVAL.match(part)
        opens = _minutes(match.group(1), match.group(2)) if match else None
        closes = _minutes(match.group(3), match.group(4)) if match else None
        if opens is None or closes is None or opens == DAY_MINUTES:
            raise InvalidInput(
                N_("%(day)s: write the hours like 10:00-19:00 (several separated by commas)."),
                day=day,
                field=field_name,
            )
        if closes <= opens:
            raise InvalidInput(
                N_("%(day)s: %(hours)s closes before it opens (hours past midnight are not supported)."),
                day=day,
                field=field_name,
                hours=part,
            )
        spans.append((opens, closes))
    spans.sort()
    if len(spans) > MAX_INTERVALS_PER_DAY:
        raise InvalidInput(N_("%(day)s: at most 6 opening hours a day."), day=day, field=field_name)
    for (_, closes), (opens, _) in zip(spans, spans[1:], strict=False):
        if opens < closes:
            raise InvalidInput(N_("%(day)s: the opening hours overlap."), day=day, field=field_name)
    return tuple(spans)


def _parse_date(text, *, field_name: str) -> date:
    try:
        if not isinstance(text, str) or len(text.strip()) != 10:
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            N_("%(value)s is not a date like 2026-12-31."), value=str(text)[:20], field=field_name
        ) from None


def _check_dates(holidays: set[date], special: dict[date, Intervals], *, field_name: str) -> None:
    if len(holidays) + len(special) > MAX_DATES:
        raise InvalidInput(N_("At most 400 closed or special days."), field=field_name)


def from_form(*, weekly: dict[str, str], dates: str = "") -> BusinessHours:
    """Business hours from a form: `weekly` maps mon..sun to "10:00-19:00" text, `dates` has one date a line.

    A date alone is a closed day; a date followed by hours is a day with special hours. The error's
    `field` param names the form field: `hours_mon` .. `hours_sun`, or `hours_dates`.
    """
    spans = tuple(
        parse_intervals(weekly.get(name, ""), day=WEEKDAY_NAMES[name], field_name=f"hours_{name}") for name in WEEKDAYS
    )
    holidays: set[date] = set()
    special: dict[date, Intervals] = {}
    for line in unicodedata.normalize("NFKC", dates or "").splitlines():
        line = line.strip()
        if not line:
            continue
        day_text, _, rest = line.partition(" ")
        day = _parse_date(day_text, field_name="hours_dates")
        if day in holidays or day in special:
            raise InvalidInput(N_("%(value)s is listed twice."), value=day.isoformat(), field="hours_dates")
        intervals = parse_intervals(rest, day=day.isoformat(), field_name="hours_dates")
        if intervals:
            special[day] = intervals
        else:
            holidays.add(day)
    _check_dates(holidays, special, field_name="hours_dates")
    return BusinessHours(weekly=spans, holidays=frozenset(holidays), special=special)


def from_json(data) -> BusinessHours:
    """Business hours from their JSON form (stored, or sent to the API); InvalidInput names what is wrong."""
    if not isinstance(data, dict) or set(data) - {"weekly", "holidays", "special"}:
        raise InvalidInput(N_("Business hours need weekly hours, holidays and special days."), field="business_hours")
    weekly = data.get("weekly") or {}
    holidays = data.get("holidays") or []
    special = data.get("special") or {}
    if not isinstance(weekly, dict) or set(weekly) - set(WEEKDAYS):
        raise InvalidInput(N_("Weekly hours are given per weekday: mon to sun."), field="business_hours")
    if not isinstance(holidays, list) or not isinstance(special, dict):
        raise InvalidInput(N_("Business hours need weekly hours, holidays and special days."), field="business_hours")
    spans = tuple(
        parse_intervals(weekly.get(name) or [], day=WEEKDAY_NAMES[name], field_name=f"hours_{name}")
        for name in WEEKDAYS
    )
    closed = {_parse_date(text, field_name="hours_dates") for text in holidays}
    extra = {}
    for text, intervals in special.items():
        day = _parse_date(text, field_name="hours_dates")
        extra[day] = parse_intervals(intervals, day=day.isoformat(), field_name="hours_dates")
    _check_dates(closed, extra, field_name="hours_dates")
    return BusinessHours(weekly=spans, holidays=frozenset(closed), special=extra)


# -- the shop's and the stores' hours -------------------------------------------------------------


def get_shop_hours(*, uow: UnitOfWork) -> BusinessHours:
    """The shop's business hours; every day 10:00-19:00 until they are set."""
    stored = shop.get_setting(uow=uow, key=SETTING_KEY)
    return DEFAULT_HOURS if stored is None else from_json(stored)


def set_shop_hours(*, uow: UnitOfWork, hours: BusinessHours) -> None:
    shop.set_setting(uow=uow, key=SETTING_KEY, value=hours.as_json())


def hours_for_store(*, uow: UnitOfWork, store: Store) -> BusinessHours:
    """The store's own business hours, or the shop's when it keeps those."""
    if store.business_hours is None:
        return get_shop_hours(uow=uow)
    return from_json(store.business_hours)
