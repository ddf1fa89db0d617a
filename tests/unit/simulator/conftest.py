# ruff: noqa: S105, S106  (fake LINE credentials)
import pytest

from bot.simulator import LineEmulator

CHANNEL_SECRET = "unit-test-channel-secret"
CHANNEL_ACCESS_TOKEN = "unit-test-access-token"


class FakeClock:
    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> LineEmulator:
    return LineEmulator(channel_secret=CHANNEL_SECRET, channel_access_token=CHANNEL_ACCESS_TOKEN, now=clock)
