"""`kizuna serve` for real, as a process: it restarts a helper that dies, stops them all, and gives up loudly."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crm_core.db import normalize_url
from crm_core.migrate import head_revision

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """One `kizuna serve` process with its log; `until()` polls with a deadline while it runs."""

    def __init__(self, database_url: str, directory: Path, *args: str):
        self.port = _free_port()
        self.log_path = directory / "serve.log"
        env = {
            **os.environ,
            "KIZUNA_DATABASE_URL": database_url,
            "KIZUNA_SECRET_KEY": "s" * 40,
            "LINE_CHANNEL_SECRET": "channel-secret",
            "LINE_CHANNEL_ACCESS_TOKEN": "channel-token",
            "LINE_API_BASE_URL": f"http://127.0.0.1:{_free_port()}",  # nobody listens: LINE is not needed here
        }
        argv = [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port), "--workers", "1"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [*argv, "--threads", "2", "--restart-backoff", "0.05", *args],
                cwd=directory,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def until(self, check, what: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            try:
                self.process.wait(timeout=0.1)  # the pause between looks; also notices serve exiting
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"serve exited ({self.process.returncode}) waiting for {what}:\n{self.log}")
        raise AssertionError(f"no {what} within {timeout} s:\n{self.log}")

    def health(self) -> tuple[int, dict] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:  # noqa: S310
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except OSError:
            return None

    def children(self) -> dict[int, str]:
        return _children(self.process.pid)

    def helper_pid(self, words: str) -> int | None:
        return next((pid for pid, argv in self.children().items() if argv.endswith(words)), None)

    def stop(self) -> None:
        """Kill serve and wait for every helper it started to go too: a helper still running a job would hold
        locks when the next test empties the tables."""
        everything = _descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        assert _all_exit(everything), "a helper outlived kizuna serve"


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every live process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        found[int(entry.name)] = (int(ppid), state, argv)
    return found


def _children(pid: int) -> dict[int, str]:
    return {child: argv for child, (ppid, state, argv) in _processes().items() if ppid == pid and state != "Z"}


def _descendants(pid: int) -> set[int]:
    processes = _processes()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (ppid, _, _) in processes.items() if ppid in frontier}
        found |= frontier
    return found


def _all_exit(pids: set[int], timeout: float = 30) -> bool:
    """Wait until every process in `pids` has exited (children of ours or not); False at the deadline."""
    handles = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone already
            handles.append(os.pidfd_open(pid))
    try:
        deadline, pending = time.monotonic() + timeout, set(handles)
        while pending and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(pending), [], [], left)
            pending -= set(ready)
        return not pending
    finally:
        for handle in handles:
            os.close(handle)


@pytest.fixture
def serve(database_url, tmp_path):
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        started.append(Serve(database_url, tmp_path, *args))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def test_a_killed_scheduler_comes_back_and_sigterm_stops_every_child(serve):
    server = serve("--event-workers", "2")
    server.until(lambda: (server.health() or (0,))[0] == 200, "healthy /healthz")
    children = server.children()
    assert any(argv.endswith("scheduler") for argv in children.values())
    assert sum(argv.endswith("events work") for argv in children.values()) == 1
    everything = _descendants(server.process.pid)

    killed = server.helper_pid("scheduler")
    server.until(lambda: f"/{killed} leads now" in server.log, "the scheduler leading", timeout=60)
    os.kill(killed, signal.SIGKILL)
    again = server.until(lambda: (pid := server.helper_pid("scheduler")) not in (None, killed) and pid, "new scheduler")
    # serve tells the new scheduler which one it replaces: it leads at once, without standing by for the
    # 30 s the dead one's lease still has
    server.until(lambda: f"/{again} leads now" in server.log, "the new scheduler leading", timeout=60)
    assert f"/{again} stands by" not in server.log
    status, body = server.until(
        lambda: (answer := server.health()) and any(h["pid"] == again for h in answer[1].get("helpers", [])) and answer,
        "the new scheduler's report",
    )
    assert status == 200
    assert f"the scheduler (pid {killed}) exited with status -9; restarting it" in server.log

    everything |= _descendants(server.process.pid)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert _all_exit(everything), "a child outlived kizuna serve"


def test_no_scheduler_still_processes_events_and_no_child_outlives_a_killed_serve(serve):
    server = serve("--no-scheduler", "--event-workers", "2")
    server.until(lambda: sum(argv.endswith("events work") for argv in server.children().values()) == 2,
                 "two event workers")  # fmt: skip
    assert not any(argv.endswith("scheduler") for argv in server.children().values())
    status, body = server.until(server.health, "an answer from /healthz")
    assert status == 503 and body["reason"].startswith("no scheduler is running")  # none runs anywhere
    everything = _descendants(server.process.pid)
    assert len(everything) >= 4  # gunicorn, its worker, two event workers

    server.process.kill()
    server.process.wait()
    assert _all_exit(everything), "children outlived kizuna serve"


def test_a_helper_that_keeps_dying_makes_serve_give_up_in_one_line(serve, database_url):
    server = serve("--event-workers", "1")
    server.until(lambda: (server.health() or (0,))[0] == 200, "healthy /healthz")
    everything = _descendants(server.process.pid)
    engine = create_engine(normalize_url(database_url))
    try:
        with engine.begin() as connection:  # as if Kizuna was upgraded under it without `kizuna db upgrade`
            connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        os.kill(server.helper_pid("scheduler"), signal.SIGKILL)
        assert server.process.wait(timeout=60) == 1
    finally:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
        engine.dispose()

    gave_up = [line for line in server.log.splitlines() if "gives up" in line]
    assert len(gave_up) == 1 and "the scheduler died 5 times within 60 s (last exit status 1)" in gave_up[0]
    assert server.log.count("kizuna db upgrade") >= 4  # each attempt said why
    assert _all_exit(everything), "a child outlived kizuna serve"


def test_no_event_workers_leaves_line_events_to_workers_elsewhere(serve):
    """PRODUCT.md: LINE events are processed unless `--event-workers 0`, whatever `--no-scheduler` says."""
    server = serve("--event-workers", "0")
    scheduler = server.until(lambda: server.helper_pid("scheduler --no-events"), "a scheduler without events")
    assert not any(argv.endswith("events work") for argv in server.children().values())
    server.until(lambda: "scheduler running; Ctrl+C stops it" in server.log, "the scheduler's first line")
    assert "scheduler and event worker running" not in server.log
    assert scheduler in server.children()
