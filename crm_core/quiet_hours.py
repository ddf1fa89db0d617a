"""Quiet hours: when marketing messages wait instead of going (21:00-09:00 in a new shop).

The hours in force are KIZUNA_QUIET_HOURS when set (it overrides the console), else the console's
setting `shop.quiet_hours`. They are `HH:MM-HH:MM` in business time and may wrap midnight: the
start is inside, the end is not (21:00-09:00 is quiet at 21:00 and at 08:59, not at 09:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_core import shop
from crm_core.uow import UnitOfWork

OFF = "off"


@dataclass(frozen=True)
class QuietHours:
    """Quiet hours in a time zone; `start`/`end` None means off."""

    start: time | None
    end: time | None
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str | None, zone: ZoneInfo | str) -> QuietHours:
        zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        spec = (spec or OFF).strip()
        if spec.lower() == OFF:
            return cls(None, None, zone)
        start, end = (time.fromisoformat(part) for part in spec.split("-"))
        return cls(start, end, zone)

    @property
    def off(self) -> bool:
        return self.start is None

    def is_quiet(self, at: datetime) -> bool:
        """Whether `at` (aware) falls inside the quiet hours."""
        if self.off:
            return False
        local = at.astimezone(self.zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # wraps midnight

    def ends_at(self, at: datetime) -> datetime:
        """When the quiet hours around `at` end (`at` itself when it is not quiet), aware UTC."""
        if not self.is_quiet(at):
            return at
        local = at.astimezone(self.zone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end.astimezone(at.tzinfo or ZoneInfo("UTC"))


def in_force(*, uow: UnitOfWork, override: str | None, zone: ZoneInfo | str) -> QuietHours:
    """The quiet hours that hold now: `override` (KIZUNA_QUIET_HOURS) when set, else the console's."""
    spec = override or shop.get_setting(uow=uow, key="shop.quiet_hours")
    return QuietHours.parse(spec, zone)
