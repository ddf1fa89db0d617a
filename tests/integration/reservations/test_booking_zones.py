"""A store in another time zone: the grid in its own clock, across a daylight-saving change, stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from crm_core import hours, reservations
from crm_core.errors import InvalidInput

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def new_york(salon, uow_factory, clock):
    clock.set(datetime(2027, 3, 10, 12, 0, tzinfo=UTC))
    with uow_factory() as uow:
        store = salon.store(uow)
        store.business_hours = hours.BusinessHours(weekly=(((60, 5 * 60),),) * 7).as_json()  # 01:00-05:00
        reservations.update_settings(uow=uow, store_id=store.id, time_zone="America/New_York", slot_minutes=60)
        uow.commit()
    return salon


def test_the_grid_follows_the_stores_clock_across_the_spring_change(new_york):
    # 2027-03-14: at 02:00 New York's clocks jump to 03:00, so 02:00 does not exist that day
    free = new_york.free("consult", date(2027, 3, 14))
    local = [moment.astimezone(NEW_YORK).strftime("%H:%M") for moment in free]
    assert local == ["01:00", "03:00", "04:00"]
    assert [moment.hour for moment in free] == [6, 7, 8]  # UTC: EST -5 before, EDT -4 after
    before = new_york.free("consult", date(2027, 3, 13))
    assert [moment.hour for moment in before] == [6, 7, 8, 9]


def test_a_store_zone_must_exist(salon, uow_factory):
    with uow_factory() as uow, pytest.raises(InvalidInput) as refused:
        reservations.update_settings(uow=uow, store_id=salon.store_id, time_zone="Asia/Atlantis")
    assert refused.value.params["field"] == "time_zone"
