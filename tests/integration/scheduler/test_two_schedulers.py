"""Two real `kizuna scheduler` processes on one database: only the leader runs jobs; SIGKILL it and the
standby runs the next ones within a bounded time (a lease of 3 s here; an advisory lock on PostgreSQL)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from crm_core import heartbeats, leadership
from crm_core.uow import UnitOfWorkFactory

LEASE_SECONDS = 3
JOB_RUN = re.compile(r"kizuna\.scheduler: ([a-z_]+\.[a-z_]+): ")  # "outbox.deliver: sent 0, ..." as each run logs it
TAKEOVER_BOUND = LEASE_SECONDS + LEASE_SECONDS / 3 + 10 + 20  # lease + one look + outbox.deliver's 10 s + a busy host


class Scheduler:
    """One `kizuna scheduler` process with its log."""

    def __init__(self, name: str, database_url: str, line_url: str, directory: Path):
        self.log_path = directory / f"{name}.log"
        env = {
            **os.environ,
            "KIZUNA_DATABASE_URL": database_url,
            "KIZUNA_SECRET_KEY": "s" * 40,
            "LINE_CHANNEL_SECRET": "channel-secret",
            "LINE_CHANNEL_ACCESS_TOKEN": "channel-token",
            "LINE_API_BASE_URL": line_url,
            "KIZUNA_SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
            "KIZUNA_LOG_LEVEL": "DEBUG",  # every job run is logged, those that found nothing to do too
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "bot.cli", "scheduler"], cwd=directory, env=env, stdout=log, stderr=log
            )
        self.pid = self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def job_runs(self) -> list[str]:
        return JOB_RUN.findall(self.log)

    def until(self, check, what: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            try:
                self.process.wait(timeout=0.1)  # the pause between looks; also notices the process exiting
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the scheduler exited ({self.process.returncode}) waiting for {what}:\n{self.log}")
        raise AssertionError(f"no {what} within {timeout} s:\n{self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _leader(uow_factory):
    with UnitOfWorkFactory(uow_factory.session_factory)() as uow:  # the processes live in real time
        return leadership.get_leader(uow=uow)


def _scheduler_heartbeats(uow_factory) -> set[int]:
    with UnitOfWorkFactory(uow_factory.session_factory)() as uow:
        return {helper.pid for helper in heartbeats.report(uow=uow).alive if helper.helper == heartbeats.SCHEDULER}


def test_only_the_leader_runs_jobs_and_the_standby_takes_over_when_it_is_killed(
    database_url, line, uow_factory, tmp_path
):
    first = Scheduler("first", database_url, line.base_url, tmp_path)
    second = None
    try:
        first.until(lambda: "leads now" in first.log, "first scheduler leading", timeout=60)
        first.until(lambda: "outbox.deliver" in first.job_runs(), "a first job run", timeout=30)
        second = Scheduler("second", database_url, line.base_url, tmp_path)
        second.until(lambda: "stands by" in second.log, "second scheduler standing by", timeout=60)
        assert f"/{first.pid} (since" in second.log, "the standby names the leader"

        # both run a while: the leader keeps running jobs, the standby none (it still beats for /healthz)
        runs_before = first.job_runs().count("outbox.deliver")
        first.until(lambda: first.job_runs().count("outbox.deliver") > runs_before, "another run", timeout=40)
        assert second.job_runs() == [] and "leads now" not in second.log
        assert (_leader(uow_factory).pid, _leader(uow_factory).current) == (first.pid, True)
        assert {first.pid, second.pid} <= _scheduler_heartbeats(uow_factory)

        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        killed_at = time.monotonic()
        runs_of_the_dead = len(first.job_runs())
        second.until(lambda: "leads now" in second.log, "the standby taking over", timeout=TAKEOVER_BOUND)
        took_over = time.monotonic() - killed_at
        second.until(lambda: "outbox.deliver" in second.job_runs(), "a job run by the new leader", TAKEOVER_BOUND)
        first_run = time.monotonic() - killed_at
        print(f"standby led {took_over:.1f} s after SIGKILL; ran outbox.deliver {first_run:.1f} s after")
        assert first_run < TAKEOVER_BOUND
        assert len(first.job_runs()) == runs_of_the_dead
        assert _leader(uow_factory).pid == second.pid

        second.stop()  # a clean stop gives the lead up at once
        assert second.process.returncode == 0, second.log
        assert "no longer leads" in second.log and not _leader(uow_factory).current
        assert "Traceback" not in first.log + second.log, first.log + second.log
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
