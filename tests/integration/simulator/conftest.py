# ruff: noqa: S105, S106  (fake LINE credentials)
from collections.abc import Iterator

import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi

from bot.simulator import EmulatorServer, LineEmulator
from tests.line_clock import SecondsClock

ACCESS_TOKEN = "integration-access-token"


@pytest.fixture
def clock() -> SecondsClock:
    return SecondsClock()


@pytest.fixture
def line_server(clock: SecondsClock) -> Iterator[EmulatorServer]:
    emulator = LineEmulator(channel_secret="integration-secret", channel_access_token=ACCESS_TOKEN, now=clock)
    with EmulatorServer(emulator) as server:
        yield server


@pytest.fixture
def emulator(line_server: EmulatorServer) -> LineEmulator:
    return line_server.emulator


@pytest.fixture
def messaging_api(line_server: EmulatorServer) -> Iterator[MessagingApi]:
    with ApiClient(Configuration(host=line_server.base_url, access_token=ACCESS_TOKEN)) as client:
        yield MessagingApi(client)


@pytest.fixture
def friend(emulator: LineEmulator) -> str:
    line_user_id = emulator.add_user("山田 花子")
    emulator.follow(line_user_id)
    return line_user_id
