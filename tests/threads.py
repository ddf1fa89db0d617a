"""Real concurrency for tests: many threads released at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def together(count: int, fn):
    """Run fn(n) on `count` threads released at the same moment; results, or the exceptions raised."""
    barrier = threading.Barrier(count)

    def run(n):
        barrier.wait(timeout=30)
        try:
            return fn(n)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
