"""Pacing requests to LINE at its published limits, shared by every dispatcher thread and process.

Each process reserves a short run of request slots at a time from the database (`rate_limits`),
then hands them to its threads one by one; a thread sleeps until its slot. So all dispatchers
together never ask LINE for more than the limit, and a lone dispatcher reaches it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from crm_core import dispatch
from crm_core.uow import UnitOfWorkFactory

RESERVE_SECONDS = 0.25  # each reservation covers this much of an endpoint's time (500 pushes at 2,000/s)
STALE_SECONDS = 0.25  # a reserved slot this far in the past is dropped: using it late would bunch requests


class Pacer:
    """`wait(endpoint)` returns when this process may send its next request to that endpoint."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        rates: dict[str, float],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.uow_factory = uow_factory
        self.rates = rates
        self.clock = clock
        self.sleep = sleep
        self._slots: dict[str, deque[float]] = {endpoint: deque() for endpoint in rates}
        self._locks = {endpoint: threading.Lock() for endpoint in rates}

    def wait(self, endpoint: str) -> None:
        slot = self._next_slot(endpoint)
        delay = slot - self.clock()
        if delay > 0:
            self.sleep(delay)

    def _next_slot(self, endpoint: str) -> float:
        rate = self.rates.get(endpoint)
        if not rate:
            return 0.0
        with self._locks[endpoint]:
            slots = self._slots[endpoint]
            now = self.clock()
            while slots and slots[0] < now - STALE_SECONDS:
                slots.popleft()
            if not slots:
                count = max(1, round(rate * RESERVE_SECONDS))
                with self.uow_factory() as uow:
                    first = dispatch.reserve_slots(uow=uow, endpoint=endpoint, count=count, per_second=rate, now=now)
                slots.extend(first + index / rate for index in range(count))
            return slots.popleft()

    def slow_down(self, endpoint: str, seconds: float) -> None:
        """LINE answered 429: nobody sends to `endpoint` for `seconds`, in this process or another."""
        until = self.clock() + seconds
        with self._locks.get(endpoint, threading.Lock()):
            self._slots.get(endpoint, deque()).clear()
        with self.uow_factory() as uow:
            dispatch.push_back(uow=uow, endpoint=endpoint, until=until)
