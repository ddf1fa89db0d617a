"""SQLite's `kizuna_local_date`: the business day of a stored UTC timestamp, as PostgreSQL's AT TIME ZONE gives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from crm_core.db import make_engine, sqlite_local_date


@pytest.mark.parametrize(
    ("zone_name", "around"),
    [
        ("Asia/Tokyo", datetime(2026, 11, 21, 12, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 3, 8, 6, tzinfo=UTC)),  # clocks go forward at 02:00 local
        ("Europe/London", datetime(2026, 10, 25, 1, tzinfo=UTC)),  # and back
        ("Asia/Kolkata", datetime(2026, 1, 1, tzinfo=UTC)),  # +05:30: local midnight inside a UTC hour
        ("America/St_Johns", datetime(2026, 11, 1, 3, tzinfo=UTC)),  # -02:30 to -03:30 at 04:30 UTC, mid-hour
        ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),  # a half-hour DST change
    ],
)
def test_every_minute_around_a_change_gets_the_date_zoneinfo_gives(zone_name, around):
    zone = ZoneInfo(zone_name)
    for minute in range(-36 * 60, 36 * 60, 7):
        moment = around + timedelta(minutes=minute, seconds=minute % 60, microseconds=minute % 997)
        expected = moment.astimezone(zone).date().isoformat()
        stored = moment.replace(tzinfo=None).isoformat(" ", timespec="microseconds")
        assert sqlite_local_date(stored, zone_name) == expected, stored
        assert sqlite_local_date(stored[:19], zone_name) == expected  # written by SQL's datetime(): no fraction


def test_the_function_is_there_on_every_sqlite_connection():
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        day = connection.scalar(text("SELECT kizuna_local_date('2026-11-21 15:00:00.000000', 'Asia/Tokyo')"))
        assert day == "2026-11-22" and connection.scalar(text("SELECT kizuna_local_date(NULL, 'Asia/Tokyo')")) is None
    engine.dispose()
