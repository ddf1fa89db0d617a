"""How long the automation results page's queries take on a large shop.

Fills a fresh database with `--customers` customers, one automation decision each spread over the last
`--days` days (90% sent, 10% held out, a few skipped), their outbox rows and `--purchases` purchases, then
times `results.results` (per day + hold-out comparison) over 28 and 90 days and `results.recent_totals`
(the list page), each the best of three.

    .venv/bin/python bench/automation_results.py                       # SQLite in a temporary file
    .venv/bin/python bench/automation_results.py --database-url postgresql://postgres@127.0.0.1:5432/kizuna_bench

The database is emptied first: its name must contain `bench` or `test_` (never a shop's database).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from crm_core.automations import results
from crm_core.clock import FakeClock
from crm_core.db import make_engine, make_session_factory, normalize_url
from crm_core.migrate import upgrade
from crm_core.models import AutomationDecision, Customer, OutboxMessage, Purchase, SQLModel, Store
from crm_core.uow import UnitOfWorkFactory

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
BATCH = 5000


def reset(url: str) -> None:
    if url.startswith("sqlite"):
        upgrade(url)
        return
    if "bench" not in url and "test_" not in url:
        raise SystemExit("refusing: the database name must contain 'bench' or 'test_'")
    engine = create_engine(normalize_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def fill(engine, *, customers: int, purchases: int, days: int) -> None:
    rng = random.Random(12)
    with engine.begin() as connection:
        connection.execute(
            insert(Store.__table__), [{"id": 1, "code": "S1", "name": "Shop", "active": True, "created_at": NOW}]
        )
        for start in range(1, customers + 1, BATCH):
            ids = range(start, min(start + BATCH, customers + 1))
            connection.execute(
                insert(Customer.__table__),
                [
                    {"id": i, "member_number": f"{i:010d}", "name": f"C{i}", "locale": "ja", "tier": "regular",
                     "marketing_opt_out": False, "created_at": NOW, "updated_at": NOW}
                    for i in ids
                ],
            )  # fmt: skip
            outbox_rows, decisions = [], []
            for i in ids:
                decided = NOW - timedelta(days=rng.randrange(days), minutes=rng.randrange(1440))
                draw = rng.random()
                outcome = "holdout" if draw < 0.1 else ("skipped" if draw < 0.13 else "send")
                if outcome == "send":
                    status = rng.choice(("sent",) * 18 + ("failed", "cancelled"))
                    outbox_rows.append(
                        {"id": i, "customer_id": i, "channel": "line", "address": f"U{i:032x}", "category": "marketing",
                         "messages": [{"type": "text", "text": "hi"}], "retry_key": str(uuid.uuid4()),
                         "dedupe_key": f"auto:replenishment:{i}:x#0", "status": status, "attempts": 1,
                         "last_error": None if status == "sent" else "LINE answered 400: bad", "created_at": decided}
                    )  # fmt: skip
                decisions.append(
                    {"automation": "replenishment", "customer_id": i, "occurrence": "x", "outcome": outcome,
                     "reason": "cap" if outcome == "skipped" else None,
                     "outbox_id": i if outcome == "send" else None, "decided_at": decided,
                     "business_day": (decided + timedelta(hours=9)).date()}
                )  # fmt: skip
            if outbox_rows:
                connection.execute(insert(OutboxMessage.__table__), outbox_rows)
            connection.execute(insert(AutomationDecision.__table__), decisions)
        for start in range(0, purchases, BATCH):
            rows = []
            for _ in range(start, min(start + BATCH, purchases)):
                when = NOW - timedelta(days=rng.randrange(days + 30), minutes=rng.randrange(1440))
                rows.append(
                    {"customer_id": rng.randrange(1, customers + 1), "store_id": 1, "total": rng.randrange(300, 5000),
                     "refunded_total": 0, "points_earned": 0, "points_used": 0, "source": "api",
                     "occurred_at": when, "created_at": when}
                )  # fmt: skip
            connection.execute(insert(Purchase.__table__), rows)


def best_of_three(action) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'kizuna_bench.sqlite3'}"
    reset(url)
    engine = make_engine(url)
    started = time.perf_counter()
    fill(engine, customers=args.customers, purchases=args.purchases, days=args.days)
    print(
        f"filled {args.customers:,} decisions and {args.purchases:,} purchases in {time.perf_counter() - started:.1f} s"
    )
    uow_factory = UnitOfWorkFactory(make_session_factory(engine), FakeClock(NOW))
    today = date(2026, 11, 22)

    def page(days: int):
        with uow_factory() as uow:
            return results.results(
                uow=uow, automation="replenishment", since=today - timedelta(days=days - 1), until=today
            )

    def listing():
        with uow_factory() as uow:
            return results.recent_totals(uow=uow, since=today - timedelta(days=6), until=today)

    for days in (28, 90):
        seconds = best_of_three(lambda days=days: page(days))
        found = page(days)
        comparison = found.comparison
        print(
            f"results over {days} days: {seconds * 1000:.0f} ms ({found.totals.decided:,} decisions, "
            f"{comparison.messaged.customers:,} vs {comparison.held_out.customers:,} compared)"
        )
    print(f"list page (7 days, every automation): {best_of_three(listing) * 1000:.0f} ms")
    engine.dispose()
    SQLModel.metadata.clear()


if __name__ == "__main__":
    main()
