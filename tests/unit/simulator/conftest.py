# ruff: noqa: S105, S106  (fake LINE credentials)
import pytest

from bot.simulator import LineEmulator
from tests.line_clock import SecondsClock

CHANNEL_SECRET = "unit-test-channel-secret"
CHANNEL_ACCESS_TOKEN = "unit-test-access-token"


@pytest.fixture
def clock() -> SecondsClock:
    return SecondsClock()


@pytest.fixture
def emulator(clock: SecondsClock) -> LineEmulator:
    return LineEmulator(channel_secret=CHANNEL_SECRET, channel_access_token=CHANNEL_ACCESS_TOKEN, now=clock)
