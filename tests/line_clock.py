"""The LINE emulator's clock for tests: unix seconds that move only when told to."""

from __future__ import annotations


class SecondsClock:
    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
