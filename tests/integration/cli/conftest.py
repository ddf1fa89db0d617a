"""CLI fixtures: `run(*args)` invokes `kizuna` against the test's database, from a folder with no `.env`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli import main


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"KIZUNA_DATABASE_URL": database_url, "KIZUNA_SECRET_KEY": "", "LINE_CHANNEL_SECRET": ""}

    def invoke(*args, input=None, extra_env=None):
        return CliRunner().invoke(main, list(args), env={**env, **(extra_env or {})}, input=input)

    return invoke
