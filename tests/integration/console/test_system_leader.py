"""The system page says which scheduler process runs the jobs, or that none does."""

from __future__ import annotations

from datetime import timedelta

from crm_core.leadership import LeaseLock

PAGE = "/console/system"


def test_the_system_page_names_the_scheduler_that_runs_the_jobs(as_role, uow_factory, clock):
    admin = as_role("admin")
    assert "No scheduler leads now, so no job runs" in admin.get(PAGE).get_data(as_text=True)

    lock = LeaseLock(uow_factory=uow_factory, lease=timedelta(seconds=30), host="sched-1", pid=4242)
    assert lock.acquire()
    page = admin.get(PAGE).get_data(as_text=True)
    assert 'data-leader="sched-1/4242"' in page and "(process 4242), leading since" in page
    with admin.session_transaction() as session:
        session["lang"] = "ja"
    assert "sched-1 のスケジューラー（プロセス 4242）が" in admin.get(PAGE).get_data(as_text=True)

    clock.advance(seconds=31)  # its lease passed without a renewal: the leader is gone
    assert 'data-leader=""' in admin.get(PAGE).get_data(as_text=True)
