"""`kizuna serve` as a supervisor: it runs gunicorn and the helper processes, and restarts a helper that dies.

The supervisor's side: every child is restarted with a growing pause (1 s, 2 s, 4 s ... up to a minute)
after it exits; SIGTERM or SIGINT stops them all and waits for them; a child that keeps dying
(DEATHS_ALLOWED times within CRASH_WINDOW seconds) makes serve stop everything and exit 1 with one
line naming it, rather than serve web requests while nothing is processed.

The helpers' side (`Heartbeat`): each helper reports that it is alive every few seconds (read by
/healthz, see crm_core.heartbeats), and exits when its supervisor is gone, so no child outlives
`kizuna serve` (on Linux the kernel sends it SIGTERM at once; elsewhere the heartbeat notices).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from crm_core import heartbeats

log = logging.getLogger("kizuna")

SUPERVISOR_PID = "KIZUNA_SUPERVISOR_PID"  # set in each child's environment: whose child it is
PREVIOUS_PID = "KIZUNA_PREVIOUS_PID"  # set in a restarted child's environment: the pid of the one that died
DEATHS_ALLOWED = 5
CRASH_WINDOW = 60.0
BACKOFF_CAP = 60.0
STOP_TIMEOUT = 30.0  # gunicorn's own graceful timeout
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One process serve keeps running: `name` is what the logs call it."""

    name: str
    argv: list[str]
    lower_priority: bool = False
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    backoff_steps: int = 0
    deaths: deque = field(default_factory=deque)
    previous_pid: int | None = None  # the process this one replaces, seen dead


class Supervisor:
    """Start `children`, keep them running, and stop them all on SIGTERM or SIGINT; `run()` returns the exit code."""

    def __init__(self, children: list[Child], *, backoff: float = 1.0, tick: float = 0.1):
        self.children = children
        self.backoff = backoff
        self.tick = tick
        self._stopping = threading.Event()
        self._libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stopping.set())
        for child in self.children:
            self._start(child)
        code = 0
        while not self._stopping.wait(self.tick):
            now = time.monotonic()
            given_up = next((child for child in self.children if self._check(child, now)), None)
            if given_up is not None:
                code = 1
                break
        self._stop_all()
        return code

    def _check(self, child: Child, now: float) -> bool:
        """Notice a death and restart when its pause is over; True when `child` keeps dying."""
        if child.process is None:
            if now >= child.restart_at:
                self._start(child)
            return False
        status = child.process.poll()
        if status is None:
            return False
        pid, child.process = child.process.pid, None
        child.previous_pid = pid
        if now - child.started_at > CRASH_WINDOW:
            child.backoff_steps = 0
        child.deaths.append(now)
        while child.deaths and child.deaths[0] < now - CRASH_WINDOW:
            child.deaths.popleft()
        if len(child.deaths) >= DEATHS_ALLOWED:
            log.error(
                "kizuna serve gives up: the %s died %d times within %d s (last exit status %s); see its output above",
                child.name,
                len(child.deaths),
                CRASH_WINDOW,
                status,
            )
            return True
        pause = min(self.backoff * 2**child.backoff_steps, BACKOFF_CAP)
        child.backoff_steps += 1
        child.restart_at = now + pause
        log.warning("the %s (pid %d) exited with status %s; restarting it in %g s", child.name, pid, status, pause)
        return False

    def _start(self, child: Child) -> None:
        env = {**os.environ, SUPERVISOR_PID: str(os.getpid())}
        if child.previous_pid is not None:
            env[PREVIOUS_PID] = str(child.previous_pid)
        libc, lower = self._libc, child.lower_priority

        def prepare() -> None:  # in the child, between fork and exec
            if libc is not None:
                libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if lower:
                os.nice(5)  # the helpers run at a lower priority: answering LINE comes first

        child.process = subprocess.Popen(child.argv, env=env, preexec_fn=prepare, process_group=0)  # noqa: S603
        child.started_at = time.monotonic()

    def _stop_all(self) -> None:
        running = [child.process for child in self.children if child.process is not None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Heartbeat:
    """A helper's report that it is alive, every few seconds, from a daemon thread; `stop()` takes it away."""

    def __init__(self, *, uow_factory, helper: str, on_orphaned: Callable[[], None] | None = None):
        self.uow_factory = uow_factory
        self.helper = helper
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started_at = uow_factory.clock.now()
        supervisor = os.environ.get(SUPERVISOR_PID)
        self.supervisor_pid = int(supervisor) if supervisor and supervisor.isdigit() else None
        self.on_orphaned = on_orphaned or (lambda: os.kill(os.getpid(), signal.SIGTERM))
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {helper}", daemon=True)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            with self.uow_factory() as uow:
                heartbeats.forget(uow=uow, host=self.host, pid=self.pid)
                uow.commit()
        except Exception:  # noqa: BLE001 - a helper that stops while the database is away stops all the same
            log.warning("the %s could not take back its heartbeat; /healthz forgets it in a day", self.helper)

    def _run(self) -> None:
        while not self._stop.wait(heartbeats.BEAT_SECONDS):
            if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:
                log.warning("the %s's supervisor is gone; stopping", self.helper)
                self.on_orphaned()
                return
            self._beat()

    def _beat(self) -> None:
        try:
            with self.uow_factory() as uow:
                heartbeats.beat(uow=uow, helper=self.helper, host=self.host, pid=self.pid, started_at=self.started_at)
                uow.commit()
        except Exception as error:  # noqa: BLE001 - the database may be away; say so once, not every beat
            if not self._failing:
                log.warning("the %s could not report that it is alive (%s)", self.helper, type(error).__name__)
            self._failing = True
        else:
            if self._failing:
                log.info("the %s reports again", self.helper)
            self._failing = False
