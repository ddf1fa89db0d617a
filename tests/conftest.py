"""Shared fixtures: a fresh migrated database per test (SQLite, or PostgreSQL when
KIZUNA_TEST_DATABASE_URL is set), a fake clock, the LINE emulator on loopback, the app."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime

import argon2
import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import WSGIRequestHandler, make_server

from bot.app import build_services, create_app
from bot.simulator import EmulatorServer
from crm_core import passwords
from crm_core.clock import FakeClock
from crm_core.config import Settings
from crm_core.db import normalize_url
from crm_core.migrate import upgrade
from crm_core.models import SQLModel

PG_URL = os.environ.get("KIZUNA_TEST_DATABASE_URL")
passwords.use_parameters(argon2.profiles.CHEAPEST)  # still Argon2id; hundreds of logins in the suite
CHANNEL_SECRET = "test-channel-secret"
ACCESS_TOKEN = "test-channel-access-token"


def pytest_report_header(config):
    return f"kizuna database: {'PostgreSQL ' + PG_URL.split('@')[-1] if PG_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def _migrated_database(tmp_path_factory):
    """Migrate once per session: a template SQLite file, or the PostgreSQL test database."""
    if PG_URL:
        engine = create_engine(normalize_url(PG_URL))
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(PG_URL)
        return PG_URL
    template = tmp_path_factory.mktemp("template") / "kizuna.sqlite3"
    upgrade(f"sqlite:///{template}")
    return template


def fresh_database(migrated, directory) -> str:
    """Empty every table of the PostgreSQL test database, or copy the migrated SQLite template."""
    if PG_URL:
        engine = create_engine(normalize_url(PG_URL))
        tables = ", ".join(f'"{name}"' for name in SQLModel.metadata.tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return PG_URL
    path = directory / "kizuna.sqlite3"
    shutil.copyfile(migrated, path)
    return f"sqlite:///{path}"


@pytest.fixture
def database_url(_migrated_database, tmp_path) -> str:
    """A clean, migrated database for this test."""
    return fresh_database(_migrated_database, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    """Business time held still at 2026-11-22 12:00 JST (before the real time, so LINE's clock is ahead)."""
    return FakeClock(datetime(2026, 11, 22, 3, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def _emulator_server():
    with EmulatorServer(channel_secret=CHANNEL_SECRET, channel_access_token=ACCESS_TOKEN) as server:
        yield server


@pytest.fixture
def line(_emulator_server):
    """The LINE emulator, reset for this test; `line.base_url` is where the app's SDK client goes."""
    emulator = _emulator_server.emulator
    emulator.reset()
    emulator.base_url = _emulator_server.base_url
    yield emulator
    assert emulator.invalid_requests == [], "the app sent LINE a request that LINE's OpenAPI refuses"


@pytest.fixture
def settings(database_url, line) -> Settings:
    return Settings.from_env(
        {},
        database_url=database_url,
        line_channel_secret=CHANNEL_SECRET,
        line_channel_access_token=ACCESS_TOKEN,
        line_api_base_url=line.base_url,
        line_api_data_base_url=line.base_url,
        line_access_base_url=line.base_url + "/simulator",
        public_url="https://kizuna.test",
        secret_key="test-secret-key-" + "x" * 32,
    )


@pytest.fixture
def services(settings, clock):
    services = build_services(settings, clock=clock, workers=2)
    yield services
    services.pump.wait_idle(timeout=10)
    services.pump.shutdown()
    services.engine.dispose()


@pytest.fixture
def uow_factory(services):
    return services.uow_factory


@pytest.fixture
def app(settings, services):
    app = create_app(settings, services=services)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def live_app(app, line):
    """The app on a real loopback port, with the emulator delivering webhooks to it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    app.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    line.webhook_url = app.config["LIVE_URL"] + "/callback"
    yield app
    server.shutdown()
    server.server_close()


@pytest.fixture
def settle(services):
    """Wait until every webhook event handed to the workers is processed (no sleeps)."""

    def wait():
        assert services.pump.wait_idle(timeout=15), "webhook events still processing after 15 s"

    return wait
