"""The house rules that a reader of one file cannot see."""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from crm_core.db import normalize_url
from crm_core.models import SQLModel

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = ("bot", "scheduler", "flask", "linebot", "apscheduler", "werkzeug")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_crm_core_depends_on_nothing_outside_it():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN_IN_CORE))
        for path in (ROOT / "crm_core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_line_emulator_knows_nothing_of_the_crm():
    for path in (ROOT / "bot" / "simulator").rglob("*.py"):
        assert "crm_core" not in _imports(path), path


def test_migrations_match_the_models(database_url):
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert diff == []
