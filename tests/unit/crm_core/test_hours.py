"""Business hours: parsing what owners type, the stored JSON, open or closed, and the next opening."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from crm_core import hours
from crm_core.errors import InvalidInput

TOKYO = ZoneInfo("Asia/Tokyo")
CLOSED_MONDAYS = {
    "mon": "",
    "tue": "10:00-19:00",
    "wed": "10:00-14:00, 15:00-19:00",
    "thu": "10:00-19:00",
    "fri": "10:00-21:00",
    "sat": "９：００〜２４：００",  # full-width, as typed on a Japanese keyboard
    "sun": "10:00-18:00",
}


def tokyo(*args) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


@pytest.fixture
def shop_hours() -> hours.BusinessHours:
    # 2026-12-29 is a Tuesday (closed); 2026-12-30 a Wednesday with short hours
    return hours.from_form(weekly=CLOSED_MONDAYS, dates="2026-12-29\n2026-12-30 10:00-15:00\n")


def test_a_form_is_read_and_shown_again_as_typed(shop_hours):
    assert shop_hours.weekly[2] == ((600, 840), (900, 1140))
    assert shop_hours.weekly[5] == ((540, 1440),)
    assert shop_hours.weekly_text()["sat"] == "09:00-24:00"
    assert shop_hours.weekly_text()["mon"] == ""
    assert shop_hours.dates_text() == "2026-12-29\n2026-12-30 10:00-15:00"


def test_the_json_round_trips(shop_hours):
    stored = shop_hours.as_json()
    assert stored["weekly"]["mon"] == [] and stored["holidays"] == ["2026-12-29"]
    assert stored["special"] == {"2026-12-30": ["10:00-15:00"]}
    assert hours.from_json(stored) == shop_hours


def test_open_and_closed_on_weekdays_holidays_and_special_days(shop_hours):
    assert shop_hours.is_open(tokyo(2026, 11, 24, 10, 0), TOKYO)  # Tuesday, opening minute
    assert not shop_hours.is_open(tokyo(2026, 11, 24, 19, 0), TOKYO)  # closing minute: closed
    assert not shop_hours.is_open(tokyo(2026, 11, 23, 12, 0), TOKYO)  # Monday: closed weekday
    assert not shop_hours.is_open(tokyo(2026, 11, 25, 14, 30), TOKYO)  # Wednesday's lunch break
    assert not shop_hours.is_open(tokyo(2026, 12, 29, 12, 0), TOKYO)  # a holiday on a Tuesday
    assert shop_hours.is_open(tokyo(2026, 12, 30, 14, 59), TOKYO)
    assert not shop_hours.is_open(tokyo(2026, 12, 30, 15, 0), TOKYO)  # special day closes early
    assert shop_hours.is_open(tokyo(2026, 11, 28, 23, 59), TOKYO)  # Saturday until 24:00


def test_open_or_closed_is_judged_in_tokyo_time_not_utc(shop_hours):
    # Monday 2026-11-23 23:30 UTC is Tuesday 08:30 in Tokyo: not yet open; 01:00 UTC is Tuesday 10:00
    assert not shop_hours.is_open(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), TOKYO)
    assert shop_hours.is_open(datetime(2026, 11, 24, 1, 0, tzinfo=UTC), TOKYO)
    # Monday 2026-11-23 in UTC at 14:00 is 23:00 on Monday in Tokyo: closed weekday
    assert not shop_hours.is_open(datetime(2026, 11, 23, 14, 0, tzinfo=UTC), TOKYO)
    with pytest.raises(ValueError, match="timezone-aware"):
        shop_hours.is_open(datetime(2026, 11, 24, 12, 0), TOKYO)  # noqa: DTZ001


def test_the_next_opening_skips_closed_weekdays_and_holidays(shop_hours):
    # Sunday evening after closing -> Monday is closed -> Tuesday 10:00
    assert shop_hours.next_opening(tokyo(2026, 11, 22, 18, 0), TOKYO) == tokyo(2026, 11, 24, 10, 0)
    # while open: that very moment
    assert shop_hours.next_opening(tokyo(2026, 11, 24, 12, 0), TOKYO) == tokyo(2026, 11, 24, 12, 0)
    # in Wednesday's lunch break: the afternoon opening
    assert shop_hours.next_opening(tokyo(2026, 11, 25, 14, 10), TOKYO) == tokyo(2026, 11, 25, 15, 0)
    # Monday 2026-12-28 (closed) -> Tuesday 29 is a holiday -> Wednesday 30's special hours
    assert shop_hours.next_opening(tokyo(2026, 12, 28, 9, 0), TOKYO) == tokyo(2026, 12, 30, 10, 0)
    # the question in UTC: Sunday 2026-11-22 10:00 UTC is 19:00 in Tokyo, just closed
    found = shop_hours.next_opening(datetime(2026, 11, 22, 10, 0, tzinfo=UTC), TOKYO)
    assert found == tokyo(2026, 11, 24, 10, 0) and found.tzinfo == TOKYO


def test_a_shop_that_never_opens_has_no_next_opening():
    closed = hours.from_form(weekly={}, dates="")
    assert closed.next_opening(tokyo(2026, 11, 22, 12, 0), TOKYO) is None
    only_once = hours.from_form(weekly={}, dates="2027-01-05 11:00-12:00")
    assert only_once.next_opening(tokyo(2026, 11, 22, 12, 0), TOKYO) == tokyo(2027, 1, 5, 11, 0)
    assert only_once.next_opening(tokyo(2027, 1, 5, 12, 0), TOKYO) is None


def test_a_new_shop_opens_every_day_from_ten_to_seven():
    default = hours.DEFAULT_HOURS
    assert default.weekly_text() == dict.fromkeys(hours.WEEKDAYS, "10:00-19:00")
    assert default.holidays == frozenset() and default.special == {}
    assert default.is_open(tokyo(2026, 11, 23, 18, 59), TOKYO)


@pytest.mark.parametrize(
    ("weekly", "dates", "message", "field"),
    [
        ({"tue": "10-19"}, "", "Tuesday: write the hours like 10:00-19:00 (several separated by commas).", "hours_tue"),
        ({"fri": "19:00-10:00"}, "", "Friday: 19:00-10:00 closes before it opens", "hours_fri"),
        ({"sat": "10:00-25:00"}, "", "Saturday: write the hours like", "hours_sat"),
        ({"sun": "10:60-12:00"}, "", "Sunday: write the hours like", "hours_sun"),
        ({"mon": "10:00-14:00, 13:00-19:00"}, "", "Monday: the opening hours overlap.", "hours_mon"),
        ({}, "2026-02-30", "2026-02-30 is not a date like 2026-12-31.", "hours_dates"),
        ({}, "2026-12-31\n2026-12-31 10:00-12:00", "2026-12-31 is listed twice.", "hours_dates"),
        ({}, "2026-12-31 nine to five", "2026-12-31: write the hours like", "hours_dates"),
    ],
)
def test_bad_hours_are_refused_naming_the_day(weekly, dates, message, field):
    with pytest.raises(InvalidInput) as refused:
        hours.from_form(weekly=weekly, dates=dates)
    assert message in str(refused.value)
    assert refused.value.params["field"] == field


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"weekly": {"monday": ["10:00-19:00"]}},
        {"weekly": {"mon": "10:00-19:00"}, "colour": "red"},
        {"weekly": {"mon": [10]}},
        {"holidays": "2026-12-31"},
        {"holidays": [20261231]},
        {"special": {"2026-12-30": ["15:00-10:00"]}},
    ],
)
def test_bad_json_is_refused(data):
    with pytest.raises(InvalidInput):
        hours.from_json(data)


def test_json_hours_may_be_given_as_one_string_per_day():
    read = hours.from_json({"weekly": {"mon": "10:00-19:00"}, "holidays": ["2026-12-31"]})
    assert read.weekly[0] == ((600, 1140),) and read.weekly[1] == ()
    assert read.intervals_on(date(2026, 12, 31)) == ()
