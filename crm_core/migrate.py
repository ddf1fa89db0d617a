"""Alembic, driven from code: `kizuna db upgrade` and the tests call `upgrade()`."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config

from crm_core.db import normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


@functools.cache
def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str:
    """The newest migration this code knows."""
    return _scripts().get_current_head()


def current_revision(engine) -> str | None:
    """The migration the database is at, or None when it has no schema yet."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_problem(engine) -> str | None:
    """Why this code cannot run on the database (one line naming `kizuna db upgrade`), or None when it can."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        current = current_revision(engine)
    except SQLAlchemyError as error:
        return f"cannot reach the database ({type(getattr(error, 'orig', None) or error).__name__})"
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return "the database has no schema yet: run `kizuna db upgrade`"
    try:
        _scripts().get_revision(current)
    except Exception:  # alembic raises several kinds for an unknown revision
        return f"the database was migrated by a newer Kizuna (at {current}; this version knows up to {head})"
    return f"the database schema is behind (at {current}, this version needs {head}): run `kizuna db upgrade`"


def check_schema(engine) -> None:
    """Raise ConfigurationError with the one-line reason when the schema is not the current one."""
    from crm_core.errors import ConfigurationError

    problem = schema_problem(engine)
    if problem is not None:
        raise ConfigurationError(problem)
