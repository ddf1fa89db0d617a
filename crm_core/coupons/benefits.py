"""The arithmetic of a coupon, without a database: the discount in yen and the validity window.

Yen are integers. A percentage rounds down to the yen, then the cap applies, and no discount is ever
more than the total. Validity is in business days (the shop's time zone): a coupon valid N days from
issue may be used on the day it was issued and the N-1 days after, until midnight; fixed dates are
inclusive. A coupon expires at the first instant it may no longer be used (`expires_at`), so it is
expired when `now >= expires_at`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

YEN_OFF, PERCENT_OFF, FREE_ITEM, GIFT = "yen_off", "percent_off", "free_item", "gift"
KINDS = (YEN_OFF, PERCENT_OFF, FREE_ITEM, GIFT)


def discount_for(*, kind: str, value: int, cap: int | None, total: int) -> int:
    """The yen a coupon takes off a purchase of `total` yen (a free item or a gift takes off nothing)."""
    if total <= 0:
        return 0
    if kind == YEN_OFF:
        discount = value
    elif kind == PERCENT_OFF:
        discount = total * value // 100
        if cap is not None:
            discount = min(discount, cap)
    else:
        discount = 0
    return max(0, min(discount, total))


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of business day `day`, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def business_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def expires_at(*, issued_at: datetime, zone: ZoneInfo, valid_days: int | None, valid_until: date | None) -> datetime:
    """The first instant a coupon issued at `issued_at` can no longer be used: the earlier of the two limits."""
    limits = []
    if valid_days is not None:
        limits.append(start_of_day(business_day(issued_at, zone) + timedelta(days=valid_days), zone))
    if valid_until is not None:
        limits.append(start_of_day(valid_until + timedelta(days=1), zone))
    if not limits:
        raise ValueError("a coupon needs valid_days or valid_until")
    return min(limits)


def starts_at(*, valid_from: date | None, zone: ZoneInfo) -> datetime | None:
    """The first instant a coupon may be used, or None when it may be used from the day it is issued."""
    return None if valid_from is None else start_of_day(valid_from, zone)
