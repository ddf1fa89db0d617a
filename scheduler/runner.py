"""Every job runs once, however many schedulers run: the one that leads runs them, the others stand by.

`LeadingScheduler` is what `kizuna scheduler` (and the demo) run beside the LINE event worker. A thread
asks for the lead (crm_core.leadership) every third of the lease: once it has it, an APScheduler
BackgroundScheduler starts on the job store in the database (`apscheduler_jobs`) with the jobs
installed (scheduler.jobs.install: stable ids, coalesced, one instance each, catch-up at start); while
it leads the thread renews the lead at the same pace, and the moment the lead is lost (its connection
gone, its lease taken over) the APScheduler is shut down and the process stands by again. A run
already under way when the lead is lost finishes (threads cannot be stopped); a run that would start
after the lease may have passed is skipped. Each transition is logged in one line.
"""

from __future__ import annotations

import logging
import threading
import time

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from crm_core import leadership
from crm_core.db import make_engine
from scheduler.jobs import install, use_services

log = logging.getLogger("kizuna.scheduler")


class _JobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store, whose engine its scheduler disposes once its thread has stopped."""

    def shutdown(self) -> None:
        pass


class StoredJobScheduler(BackgroundScheduler):
    """APScheduler's background scheduler with its jobs in Kizuna's database (the `apscheduler_jobs` table).

    APScheduler 3 looks at the due jobs once more after `shutdown()`: that look would fail to start them
    and open a database connection nobody closes, so a stopped scheduler looks no more.
    """

    def __init__(self, database_url: str):
        self._engine = make_engine(database_url, pool_size=2)
        super().__init__(timezone="UTC", jobstores={"default": _JobStore(engine=self._engine)}, daemon=True)

    def shutdown(self, wait: bool = True) -> None:
        try:
            super().shutdown(wait)
        finally:
            self._engine.dispose()

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


class LeadingScheduler:
    """Run the jobs while this process leads, stand by otherwise; `start()` returns at once, `stop()` gives up."""

    def __init__(self, services, *, lock=None, lease_seconds: int | None = None, predecessor_pid: int | None = None):
        self.services = services
        self.lease_seconds = lease_seconds or services.settings.scheduler_lease_seconds
        self.lock = lock or leadership.leader_lock(
            engine=services.engine,
            uow_factory=services.uow_factory,
            lease_seconds=self.lease_seconds,
            predecessor_pid=predecessor_pid,
        )
        self.interval = self.lease_seconds / 3
        self.name = "{}/{}".format(*leadership.process_name())
        self.scheduler: StoredJobScheduler | None = None
        self._valid_until = 0.0  # time.monotonic() until which the lead surely holds
        self._said_standby = False
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="scheduler leadership", daemon=True)

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the jobs (waiting for a run under way) and give the lead up, so a standby takes over at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 30)
        if self.scheduler is not None:
            self._stop_jobs(wait=True)
            log.info("scheduler %s stopped; it no longer leads", self.name)
        self.lock.release()

    def wait_until(self, leading: bool, timeout: float) -> bool:
        """Block until this process leads (or stands by); for tests and the demo's start."""
        with self._changed:
            return self._changed.wait_for(lambda: self.leading == leading, timeout=timeout)

    def may_run(self) -> bool:
        """Whether the lead surely still holds: renewed within the lease, by this process's own clock."""
        return self.leading and time.monotonic() < self._valid_until

    def _run(self) -> None:
        while True:
            try:
                self._step()
            except Exception:  # the thread must survive anything, or no job would ever run again
                log.exception("the scheduler's leadership check failed; trying again")
            if self._stop.wait(self.interval):
                return

    def _step(self) -> None:
        asked = time.monotonic()
        if self.scheduler is None:
            if self.lock.acquire():
                self._valid_until = asked + self.lease_seconds
                log.info("scheduler %s leads now: it runs the jobs", self.name)
                self._said_standby = False
                self._start_jobs()
            elif not self._said_standby:
                log.info("scheduler %s stands by: %s runs the jobs", self.name, self._leader_name())
                self._said_standby = True
        elif self.lock.renew():
            self._valid_until = asked + self.lease_seconds
        else:
            self._stop_jobs(wait=False)
            leader = self._leader_name()
            log.warning("scheduler %s lost the lead (now %s); its jobs stopped, it stands by", self.name, leader)
            self._said_standby = True

    def _leader_name(self) -> str:
        try:
            with self.services.uow_factory() as uow:
                leader = leadership.get_leader(uow=uow)
        except Exception:  # noqa: BLE001 - only for the log line
            return "another process"
        if leader is None or not leader.current:
            return "another process (not recorded yet)"
        return f"{leader.host}/{leader.pid} (since {leader.since:%Y-%m-%d %H:%M:%S} UTC)"

    def _start_jobs(self) -> None:
        scheduler = StoredJobScheduler(self.services.settings.database_url)
        scheduler.start(paused=True)  # install sees the stored jobs before any of them runs
        try:
            install(scheduler, self.services, may_run=self.may_run)
            scheduler.resume()
        except BaseException:
            scheduler.shutdown(wait=False)
            raise
        with self._changed:
            self.scheduler = scheduler
            self._changed.notify_all()

    def _stop_jobs(self, *, wait: bool) -> None:
        scheduler = self.scheduler
        with self._changed:
            self.scheduler = None
            self._changed.notify_all()
        use_services(self.services, may_run=lambda: False)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=wait)
