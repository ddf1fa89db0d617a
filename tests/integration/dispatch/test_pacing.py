"""Pacing: every dispatcher thread and process together stay under LINE's rate limit, and reach it."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from bot.app import build_services
from bot.pacing import STALE_SECONDS, Pacer
from tests.integration.dispatch.conftest import queue_campaign, text

RATE = 200.0


def test_two_pacers_sharing_the_database_never_exceed_the_limit_together(uow_factory):
    """Two processes' pacers, taking turns on one (fake) clock: LINE sees at most the limit in any second."""
    now = [1_000_000.0]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacers = [Pacer(uow_factory=uow_factory, rates={"push": RATE}, clock=clock, sleep=sleep) for _ in range(2)]
    sent = []
    for index in range(2_000):
        pacers[index % 2].wait("push")
        sent.append(clock())

    busiest = max(sum(1 for moment in sent[i:] if moment < sent[i] + 1.0) for i in range(0, len(sent), 25))
    assert busiest <= RATE * (1 + STALE_SECONDS) + 1
    achieved = len(sent) / (sent[-1] - sent[0])
    assert achieved >= 0.9 * RATE, f"only {achieved:.0f} requests/s of {RATE:.0f}"


def test_two_dispatchers_at_once_stay_under_lines_limit(settings, clock, uow_factory, line, audience):
    """Two dispatcher processes (each with its own pacer and threads) against LINE's 429s: none come back."""
    line.set_rate_limits({"push": RATE}, burst_seconds=0.25)  # strict: 50 requests at once at most
    people = audience(300)
    queue_campaign(uow_factory, people, lambda index: text(f"{index}さんへ"))
    paced = replace(settings, line_push_rate=RATE, delivery_threads=4)
    dispatchers = [build_services(paced, clock=clock, workers=1) for _ in range(2)]
    started = time.monotonic()
    try:
        runs = [threading.Thread(target=services.delivery.deliver_due) for services in dispatchers]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=60)
    finally:
        for services in dispatchers:
            services.delivery.close()
            services.pump.shutdown()
            services.engine.dispose()
    took = time.monotonic() - started

    assert line.rate_limited == {}
    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)
    assert took >= (300 - 50) / RATE * 0.95  # it was paced, not merely lucky
