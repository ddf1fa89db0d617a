"""The discount in integer yen and the validity window in business days (Asia/Tokyo)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from crm_core.coupons.benefits import discount_for, expires_at, starts_at

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("kind", "value", "cap", "total", "discount"),
    [
        ("yen_off", 500, None, 3240, 500),
        ("yen_off", 500, None, 300, 300),  # never more than the total
        ("yen_off", 500, None, 0, 0),
        ("percent_off", 10, None, 3240, 324),
        ("percent_off", 10, None, 3249, 324),  # rounds down to the yen
        ("percent_off", 15, None, 999, 149),  # 149.85
        ("percent_off", 33, None, 1, 0),
        ("percent_off", 20, 500, 2400, 480),  # under the cap
        ("percent_off", 20, 500, 2500, 500),  # exactly the cap
        ("percent_off", 20, 500, 10000, 500),  # capped
        ("percent_off", 100, None, 1234, 1234),
        ("free_item", 300, None, 3240, 0),
        ("gift", 0, None, 3240, 0),
    ],
)
def test_discount_in_whole_yen(kind, value, cap, total, discount):
    assert discount_for(kind=kind, value=value, cap=cap, total=total) == discount


def test_valid_days_count_the_day_of_issue_and_end_at_business_midnight():
    issued = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)  # 23:30 on the 22nd in Tokyo
    assert expires_at(issued_at=issued, zone=TOKYO, valid_days=1, valid_until=None) == datetime(
        2026, 11, 22, 15, 0, tzinfo=UTC
    )  # midnight starting the 23rd in Tokyo: one day is the day of issue only
    assert expires_at(issued_at=issued, zone=TOKYO, valid_days=7, valid_until=None) == datetime(
        2026, 11, 28, 15, 0, tzinfo=UTC
    )


def test_the_business_day_decides_not_the_utc_day():
    # 2026-11-22 15:30 UTC is already the 23rd in Tokyo: a 1-day coupon lasts until the 24th begins there
    issued = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)
    assert expires_at(issued_at=issued, zone=TOKYO, valid_days=1, valid_until=None) == datetime(
        2026, 11, 23, 15, 0, tzinfo=UTC
    )


def test_fixed_last_day_is_inclusive_and_the_earlier_limit_wins():
    issued = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    end_of_30th = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert expires_at(issued_at=issued, zone=TOKYO, valid_days=None, valid_until=date(2026, 11, 30)) == end_of_30th
    assert expires_at(issued_at=issued, zone=TOKYO, valid_days=30, valid_until=date(2026, 11, 30)) == end_of_30th
    assert expires_at(issued_at=issued, zone=TOKYO, valid_days=3, valid_until=date(2026, 11, 30)) == datetime(
        2026, 11, 24, 15, 0, tzinfo=UTC
    )


def test_first_day_starts_at_business_midnight():
    assert starts_at(valid_from=date(2026, 12, 1), zone=TOKYO) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert starts_at(valid_from=None, zone=TOKYO) is None
