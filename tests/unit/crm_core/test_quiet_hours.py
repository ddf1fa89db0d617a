"""Quiet hours at their boundaries: the start is quiet, the end is not; wrapping midnight; off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core.quiet_hours import QuietHours

TOKYO = "Asia/Tokyo"


def _jst(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=9)


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (_jst(22, 20, 59, 59), False),
        (_jst(22, 21, 0), True),
        (_jst(23, 0, 0), True),
        (_jst(23, 8, 59, 59), True),
        (_jst(23, 9, 0), False),
    ],
)
def test_quiet_hours_that_wrap_midnight(moment, quiet):
    assert QuietHours.parse("21:00-09:00", TOKYO).is_quiet(moment) is quiet


def test_a_held_message_goes_when_they_end_the_next_morning_or_the_same_one():
    hours = QuietHours.parse("21:00-09:00", TOKYO)
    assert hours.ends_at(_jst(22, 21, 0)) == _jst(23, 9, 0)
    assert hours.ends_at(_jst(23, 3, 30)) == _jst(23, 9, 0)
    assert hours.ends_at(_jst(23, 12, 0)) == _jst(23, 12, 0)  # not quiet: now


def test_quiet_hours_within_one_day():
    hours = QuietHours.parse("12:00-13:30", TOKYO)
    assert not hours.is_quiet(_jst(22, 11, 59)) and hours.is_quiet(_jst(22, 12, 0))
    assert hours.ends_at(_jst(22, 12, 45)) == _jst(22, 13, 30)
    assert not hours.is_quiet(_jst(22, 13, 30))


def test_off_is_never_quiet():
    hours = QuietHours.parse("off", TOKYO)
    assert hours.off and not hours.is_quiet(_jst(23, 3, 0))
