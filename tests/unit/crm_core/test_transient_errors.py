"""Telling a database that is away or busy for a moment from a bug, and logging an outage once."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from crm_core.db import DatabaseOutage, is_transient


@pytest.fixture
def locked_database(tmp_path):
    """A SQLite file another connection holds the write lock on."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    holder.execute("BEGIN IMMEDIATE")
    yield path
    holder.execute("ROLLBACK")
    holder.close()


def test_database_is_locked_is_temporary(locked_database):
    engine = create_engine(f"sqlite:///{locked_database}", connect_args={"timeout": 0})
    with pytest.raises(OperationalError) as caught, engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()
    assert is_transient(caught.value)


def test_a_bug_is_not_temporary(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with pytest.raises(OperationalError) as missing, engine.begin() as connection:
        connection.execute(text("SELECT * FROM no_such_table"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(IntegrityError) as duplicate, engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()
    assert not is_transient(missing.value)
    assert not is_transient(duplicate.value)
    assert not is_transient(KeyError("x"))


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    now = [100.0]
    outage = DatabaseOutage(logging.getLogger("kizuna.test"), clock=lambda: now[0])
    error = ConnectionRefusedError("refused")
    with caplog.at_level(logging.INFO, logger="kizuna.test"):
        outage.reached()
        for _ in range(50):
            outage.failed(error)
            now[0] += 1
        outage.reached()
        outage.reached()
    assert [record.getMessage() for record in caplog.records] == [
        "database unreachable (ConnectionRefusedError); retrying quietly until it answers",
        "database reachable again after 50 s",
    ]
