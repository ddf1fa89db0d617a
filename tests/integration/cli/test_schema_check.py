"""Every command but `db upgrade` and `demo` refuses a database whose schema is behind; /healthz says why."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.app import create_app
from bot.cli import main
from crm_core import heartbeats
from crm_core.config import Settings
from crm_core.migrate import upgrade

PRODUCTION_ENV = {
    "KIZUNA_SECRET_KEY": "s" * 40,
    "LINE_CHANNEL_SECRET": "channel-secret",
    "LINE_CHANNEL_ACCESS_TOKEN": "channel-token",
}


@pytest.fixture
def behind_url(tmp_path, monkeypatch):
    """A database one migration behind this version (as after upgrading Kizuna without `db upgrade`)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    upgrade(url, "0003")
    return url


def invoke(url, *args, input=None):
    return CliRunner().invoke(main, list(args), env={"KIZUNA_DATABASE_URL": url, **PRODUCTION_ENV}, input=input)


@pytest.mark.parametrize(
    "command",
    [
        ("serve",),
        ("scheduler",),
        ("events", "work"),
        ("events", "failed"),
        ("jobs", "run", "points.expire"),
        ("tokens", "create", "--name", "POS"),
        ("customers", "erase", "1", "--yes"),
    ],
)
def test_a_command_refuses_in_one_line_naming_db_upgrade(behind_url, command):
    result = invoke(behind_url, *command)

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "kizuna db upgrade" in lines[0] and "behind" in lines[0]


def test_an_empty_database_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(f"sqlite:///{tmp_path / 'empty.sqlite3'}", "users", "create", "--email", "a@b.example",
                    "--role", "admin", input="long-password-1\n" * 2)  # fmt: skip

    assert result.exit_code == 1
    assert "no schema yet" in result.output and "kizuna db upgrade" in result.output


def test_db_upgrade_brings_it_up_to_date_and_the_commands_work_again(behind_url):
    assert invoke(behind_url, "db", "upgrade").exit_code == 0

    result = invoke(behind_url, "users", "create", "--email", "owner@shop.example", "--role", "admin",
                    input="long-password-1\n" * 2)  # fmt: skip
    assert result.exit_code == 0, result.output


def test_healthz_is_503_with_the_reason_while_behind_and_200_after(behind_url):
    settings = Settings.from_env({}, database_url=behind_url, secret_key="s" * 40, line_channel_secret="x")
    client = create_app(settings).test_client()

    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "kizuna db upgrade" in response.json["reason"]

    upgrade(behind_url)
    _scheduler_reports(client)
    response = client.get("/healthz")
    assert (
        response.status_code == 200 and response.json["status"] == "ok" and response.json["oldest_pending_seconds"] == 0
    )


def test_healthz_on_the_current_schema(client):
    _scheduler_reports(client)
    assert client.get("/healthz").json["status"] == "ok"


def _scheduler_reports(client) -> None:
    """A scheduler somewhere says it is alive (/healthz wants one)."""
    uow_factory = client.application.extensions["kizuna"].uow_factory
    with uow_factory() as uow:
        heartbeats.beat(uow=uow, helper=heartbeats.SCHEDULER, host="helper-host", pid=4242, started_at=uow.now())
        uow.commit()
