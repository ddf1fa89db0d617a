"""When each scheduled job last finished without error, so a scheduler that starts can catch up."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from crm_core.clock import as_utc
from crm_core.models import ShopSetting
from crm_core.uow import UnitOfWork

_PREFIX = "jobs.last_run."


def record_job_run(*, uow: UnitOfWork, job_id: str, at: datetime) -> None:
    """Remember that `job_id` finished without error at `at` (kept in the shop settings)."""
    key = _PREFIX + job_id
    row = uow.session.get(ShopSetting, key)
    if row is None:
        uow.session.add(ShopSetting(key=key, value=as_utc(at).isoformat()))
    else:
        row.value = as_utc(at).isoformat()


def last_job_runs(*, uow: UnitOfWork) -> dict[str, datetime]:
    """Every job's last run without error, by job id; a job that never ran is absent."""
    rows = uow.session.exec(select(ShopSetting).where(ShopSetting.key.startswith(_PREFIX))).all()
    return {row.key.removeprefix(_PREFIX): datetime.fromisoformat(row.value) for row in rows}
