"""Seeding a benchmark database in a few INSERT ... SELECT statements over a numbers table, each step timed.

Shared by bench/balances.py and bench/pushes.py (bench/ is not a package: they import it by name).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Seeder:
    """`bench_numbers` holds 1..n for the SELECTs to join; `run` times each labelled step; `finish` drops it."""

    def __init__(self, engine, numbers: int):
        from sqlalchemy import text

        self.engine = engine
        self.dialect = engine.dialect.name
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.now_sql = ":now" if self.dialect == "postgresql" else "datetime(:now)"
        self.true = "true" if self.dialect == "postgresql" else "1"
        self.steps: dict[str, float] = {}
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE bench_numbers (n INTEGER PRIMARY KEY)")
            connection.execute(
                text("INSERT INTO bench_numbers (n) VALUES (:n)"), [{"n": n} for n in range(1, numbers + 1)]
            )

    def run(self, label: str, sql: str, **params) -> None:
        """Run one statement in its own transaction; `:now` (if used) is the seed's moment."""
        from sqlalchemy import bindparam, text

        from crm_core.db import UTCDateTime

        started = time.perf_counter()
        statement = text(sql)
        if ":now" in sql:
            statement = statement.bindparams(bindparam("now", type_=UTCDateTime))
            params = {"now": self.now, **params}
        with self.engine.begin() as connection:
            connection.execute(statement, params)
        self.steps[label] = self.steps.get(label, 0.0) + time.perf_counter() - started

    def finish(self) -> dict[str, float]:
        """Drop the numbers table, let PostgreSQL analyze what was written; returns seconds per step."""
        with self.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE bench_numbers")
            if self.dialect == "postgresql":
                connection.exec_driver_sql("ANALYZE")
        return self.steps

    def days_before(self, moment: str, days: str) -> str:
        """SQL for `moment` minus `days` days (SQLite keeps naive UTC text, PostgreSQL timestamptz)."""
        if self.dialect == "sqlite":
            return f"datetime({moment}, '-' || ({days}) || ' days')"
        return f"{moment} - make_interval(days => ({days}))"

    def days_after(self, moment: str, days: int) -> str:
        if self.dialect == "sqlite":
            return f"datetime({moment}, '+{days} days')"
        return f"{moment} + interval '{days} days'"

    def hours_before(self, moment: str, hours: str) -> str:
        if self.dialect == "sqlite":
            return f"datetime({moment}, '-' || ({hours}) || ' hours')"
        return f"{moment} - make_interval(hours => ({hours}))"
