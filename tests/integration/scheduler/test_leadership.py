"""One scheduler leads and runs the jobs; another waits as a standby and takes over when the lead is free.

The lease (SQLite's lock, which works on any database) is tested at its boundary with the fake clock; the
advisory lock on PostgreSQL by ending the leader's connection as PostgreSQL does when a process dies.
"""

from __future__ import annotations

import os
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from bot.cli import main
from crm_core import job_runs, leadership
from crm_core.db import make_engine, make_session_factory, normalize_url
from crm_core.leadership import AdvisoryLock, LeaseLock
from crm_core.models import apscheduler_jobs
from crm_core.uow import UnitOfWorkFactory
from scheduler.jobs import JOBS, install, stored_next_runs
from scheduler.runner import LeadingScheduler, StoredJobScheduler

LEASE = timedelta(seconds=30)


def _leader(uow_factory):
    with uow_factory() as uow:
        return leadership.get_leader(uow=uow)


def test_a_lease_has_one_holder_until_it_passes_then_a_standby_takes_it_over(uow_factory, clock):
    first = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-a", pid=101)
    second = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-b", pid=202)
    assert _leader(uow_factory) is None
    assert first.acquire() and not second.acquire()
    leader = _leader(uow_factory)
    assert (leader.host, leader.pid, leader.since, leader.current) == ("host-a", 101, clock.now(), True)

    clock.advance(seconds=29)
    assert first.renew()  # renewed: another 30 s from now
    clock.advance(seconds=30)
    assert not second.acquire(), "the lease is still valid at the very moment it ends"
    clock.advance(microseconds=1)
    assert second.acquire(), "a lease that passed is taken over"
    assert not first.renew(), "the old leader learns it lost the lead"
    assert not first.acquire()
    assert (_leader(uow_factory).host, _leader(uow_factory).since) == ("host-b", clock.now())

    second.release()  # a clean stop: the lead is free at once, no need to wait for the lease
    leader = _leader(uow_factory)
    assert leader.host == "host-b" and not leader.current
    assert first.acquire() and _leader(uow_factory).host == "host-a"


def test_a_restarted_scheduler_takes_the_lead_of_the_process_it_replaces_at_once(uow_factory):
    dead = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-a", pid=101)
    assert dead.acquire()
    elsewhere = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-b", pid=303, predecessor_pid=101)
    other_pid = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-a", pid=303, predecessor_pid=102)
    assert not elsewhere.acquire() and not other_pid.acquire()
    successor = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-a", pid=202, predecessor_pid=101)
    assert successor.acquire(), "kizuna serve saw pid 101 die: its lease is free"
    assert not dead.renew() and _leader(uow_factory).pid == 202


def test_a_leader_that_did_not_renew_in_time_steps_down_even_when_nobody_took_over(uow_factory, clock):
    lock = LeaseLock(uow_factory=uow_factory, lease=LEASE, host="host-a", pid=101)
    assert lock.acquire()
    clock.advance(seconds=31)
    assert not lock.renew()  # a standby may have started the jobs meanwhile: never assume the lead held
    assert lock.acquire(), "but it may take the free lead again"


def test_a_lock_says_not_the_leader_when_the_database_is_unreachable(tmp_path, clock):
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'kizuna.sqlite3'}")  # its folder does not exist
    lock = LeaseLock(uow_factory=UnitOfWorkFactory(make_session_factory(engine), clock), lease=LEASE, host="h", pid=1)
    assert not lock.acquire() and not lock.renew()
    lock.release()  # no error either
    engine.dispose()


@pytest.mark.skipif(not os.environ.get("KIZUNA_TEST_DATABASE_URL"), reason="advisory locks are PostgreSQL's")
def test_the_advisory_lock_is_held_until_its_connection_ends(services, uow_factory, database_url):
    first = AdvisoryLock(engine=services.engine, uow_factory=uow_factory, lease=LEASE, host="host-a", pid=101)
    second = AdvisoryLock(engine=services.engine, uow_factory=uow_factory, lease=LEASE, host="host-b", pid=202)
    try:
        assert first.acquire() and not second.acquire()
        assert first.renew() and not second.renew()
        assert _leader(uow_factory).host == "host-a"

        # the leader dies: PostgreSQL ends its session, and with it the lock
        admin = create_engine(normalize_url(database_url))
        with admin.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.backend_pid})
        admin.dispose()
        assert not first.renew(), "the old leader learns its lock is gone"
        assert second.acquire() and second.renew()
        assert _leader(uow_factory).host == "host-b"
        assert not first.acquire()

        second.release()
        assert not _leader(uow_factory).current
        assert first.acquire()
    finally:
        first.release()
        second.release()


def test_jobs_are_stored_by_stable_id_and_keep_their_next_run_across_restarts(services, uow_factory, clock):
    with uow_factory() as uow:  # every job ran just now: nothing to catch up on
        for job_id in JOBS:
            job_runs.record_job_run(uow=uow, job_id=job_id, at=clock.now())
        uow.commit()
    tomorrow_night = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)

    def started():
        scheduler = StoredJobScheduler(services.settings.database_url)
        scheduler.start(paused=True)
        return scheduler

    first = install(started(), services)
    first.modify_job("points.expire", next_run_time=tomorrow_night)
    first.add_job("scheduler.jobs:run_job", "interval", seconds=60, args=["gone.job"], id="gone.job")
    first.shutdown()
    assert set(stored_next_runs(services)) == {*JOBS, "gone.job"}

    second = install(started(), services)  # a later start, or another process taking over
    try:
        assert second.get_job("points.expire").next_run_time == tomorrow_night
        assert second.get_job("gone.job") is None, "a job this version does not know is removed"
        outbox = second.get_job("outbox.deliver")
        assert (outbox.func_ref, outbox.args, outbox.coalesce, outbox.max_instances) == (
            "scheduler.jobs:run_job",
            ("outbox.deliver",),
            True,
            1,
        )
    finally:
        second.shutdown()
    assert set(stored_next_runs(services)) == set(JOBS)
    assert stored_next_runs(services)["points.expire"] == tomorrow_night
    with uow_factory() as uow:
        query = select(apscheduler_jobs.c.job_state).where(apscheduler_jobs.c.id == "tiers.refresh")
        state = pickle.loads(uow.session.execute(query).scalar())  # noqa: S301 - our own table, written just now
    assert state["args"] == ("tiers.refresh",)  # the services are handed over at start, never stored


def test_the_leading_scheduler_runs_the_jobs_and_gives_the_lead_up_when_it_stops(services, uow_factory, clock):
    scheduler = LeadingScheduler(services, lease_seconds=3)
    scheduler.start()
    try:
        assert scheduler.wait_until(True, timeout=10), "a lone scheduler leads"
        assert scheduler.may_run()
        leader = _leader(uow_factory)
        assert leader.current and (leader.host, leader.pid) == tuple(leadership.process_name())
        assert set(stored_next_runs(services)) == set(JOBS), "it leads once its jobs are in the job store"
    finally:
        scheduler.stop()
    assert not scheduler.leading and not scheduler.may_run()
    assert not _leader(uow_factory).current, "a scheduler that stops gives the lead up at once"


def test_kizuna_jobs_names_the_leader(services, database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    env = {"KIZUNA_DATABASE_URL": database_url, "KIZUNA_SECRET_KEY": "", "LINE_CHANNEL_SECRET": ""}
    assert "leader: none (no scheduler has run yet)" in CliRunner().invoke(main, ["jobs"], env=env).output

    real_time = UnitOfWorkFactory(services.uow_factory.session_factory)  # the command reads the real clock
    lock = LeaseLock(uow_factory=real_time, lease=LEASE, host="sched-1", pid=4242)
    assert lock.acquire()
    listing = CliRunner().invoke(main, ["jobs"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "leader: sched-1/4242 since 20" in listing.output
    lock.release()
    assert "leader: none (the last was sched-1/4242" in CliRunner().invoke(main, ["jobs"], env=env).output
