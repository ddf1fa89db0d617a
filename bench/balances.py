"""Balances benchmark: point balances of 100,000 customers with a year of history.

Seeds the database in a few INSERT ... SELECT statements (customers, ~4 purchases each over the last
year, a grant per purchase with its lot, a spend for every fourth customer, and the cached balances
computed from the purchases), then times:

  (a) reading every customer's cached balance (one query, and `points.balances_of` page by page),
  (b) recomputing every balance from the ledger (SUM over point_entries GROUP BY customer),
  (c) `points.ledger_balance` for 1,000 single customers (what one screen costs),

and checks that (a) and (b) agree for every customer.

    .venv/bin/python bench/balances.py                  # PostgreSQL kizuna_bench_balances on 127.0.0.1:5432
    .venv/bin/python bench/balances.py --database-url sqlite:////tmp/kizuna_bench_balances.sqlite3

The database is dropped and recreated (its name must contain "bench"); the run is bounded by
--max-seconds.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench_balances"


from seeding import Seeder  # noqa: E402  (bench/ is not a package)
from webhook import BenchError, reset_database  # noqa: E402


def seed(engine, customers: int) -> dict[str, float]:
    """Fill the database; returns seconds per step."""
    seeder = Seeder(engine, customers)
    run, now_sql = seeder.run, seeder.now_sql
    run("stores", "INSERT INTO stores (code, name, created_at) VALUES ('BENCH', 'Bench store', :now)")
    run(
        "customers",
        "INSERT INTO customers (member_number, external_id, name, locale, tier, marketing_opt_out, created_at,"
        " updated_at) SELECT CAST(9000000000 + n AS TEXT), 'B-' || CAST(n AS TEXT), 'Bench ' || CAST(n AS TEXT),"
        " 'ja', 'regular', false, :now, :now FROM bench_numbers",
    )
    day = "(c.id * 7919 + k.n * 104729) % 365"
    total = "(500 + ((c.id * 37 + k.n * 101) % 50) * 100)"
    run(
        "purchases",
        "INSERT INTO purchases (external_id, customer_id, store_id, total, refunded_total, points_earned, source,"  # noqa: S608 (constant SQL fragments, no input)
        " occurred_at, created_at)"
        f" SELECT 'BP-' || CAST(c.id AS TEXT) || '-' || CAST(k.n AS TEXT), c.id, s.id, {total}, 0, {total} / 100,"
        f" 'bench', {seeder.days_before(now_sql, day)}, :now"
        " FROM customers c JOIN bench_numbers k ON k.n <= 6 JOIN stores s ON s.code = 'BENCH'"
        " WHERE (c.id + k.n) % 3 <> 0",
    )
    run(
        "point entries",
        "INSERT INTO point_entries (customer_id, kind, amount, idempotency_key, purchase_id, store_id, occurred_at,"
        " created_at) SELECT customer_id, 'grant', points_earned, 'purchase:' || CAST(id AS TEXT), id, store_id,"
        " occurred_at, :now FROM purchases WHERE points_earned > 0",
    )
    run(
        "point entries",
        "INSERT INTO point_entries (customer_id, kind, amount, idempotency_key, occurred_at, created_at)"
        " SELECT id, 'spend', -3, 'bench-spend:' || CAST(id AS TEXT), :now, :now FROM customers WHERE id % 4 = 0",
    )
    run(
        "point lots",
        "INSERT INTO point_lots (entry_id, customer_id, amount, remaining, available_at, expires_at)"  # noqa: S608 (constant SQL)
        f" SELECT id, customer_id, amount, amount, occurred_at, {seeder.days_after('occurred_at', 366)}"
        " FROM point_entries WHERE kind = 'grant'",
    )
    run(
        "cached balances",
        "INSERT INTO point_accounts (customer_id, balance, stamps, updated_at)"
        " SELECT customer_id, SUM(points_earned) - CASE WHEN customer_id % 4 = 0 THEN 3 ELSE 0 END, 0, :now"
        " FROM purchases GROUP BY customer_id",
    )
    return seeder.finish()


def measure(engine, uow_factory) -> dict:
    from sqlalchemy import func, select

    from crm_core import points
    from crm_core.models import Customer, PointAccount, PointEntry

    figures: dict = {}
    with uow_factory() as uow:
        session = uow.session
        figures["customers"] = session.scalar(select(func.count()).select_from(Customer))
        figures["entries"] = session.scalar(select(func.count()).select_from(PointEntry))
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))

        started = time.perf_counter()
        cached = dict(session.execute(select(PointAccount.customer_id, PointAccount.balance)).all())
        figures["cached_all"] = time.perf_counter() - started

        started = time.perf_counter()
        paged: dict[int, int] = {}
        for start in range(0, len(ids), 500):
            paged.update(points.balances_of(uow=uow, customer_ids=ids[start : start + 500]))
        figures["cached_paged"] = time.perf_counter() - started

        started = time.perf_counter()
        ledger = dict(
            session.execute(
                select(PointEntry.customer_id, func.sum(PointEntry.amount)).group_by(PointEntry.customer_id)
            ).all()
        )
        figures["ledger_all"] = time.perf_counter() - started

        sample = ids[:: max(1, len(ids) // 1000)][:1000]
        started = time.perf_counter()
        for customer_id in sample:
            points.ledger_balance(uow=uow, customer_id=customer_id)
        figures["ledger_single"] = (time.perf_counter() - started) / len(sample)

    differ = [i for i in ids if cached.get(i, 0) != int(ledger.get(i, 0)) or paged[i] != cached.get(i, 0)]
    if differ:
        raise BenchError(f"{len(differ)} cached balances differ from the ledger (first: customer {differ[0]})")
    figures["points"] = sum(cached.values())
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=int, default=600, help="Stop the whole run after this long.")
    args = parser.parse_args(argv)

    def too_long(*_):
        raise BenchError(f"stopped after --max-seconds {args.max_seconds}")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)

    from crm_core.db import make_engine, make_session_factory
    from crm_core.uow import UnitOfWorkFactory

    backend = "SQLite" if args.database_url.startswith("sqlite") else "PostgreSQL"
    engine = None
    try:
        reset_database(args.database_url)
        engine = make_engine(args.database_url)
        started = time.perf_counter()
        steps = seed(engine, args.customers)
        seeded = time.perf_counter() - started
        figures = measure(engine, UnitOfWorkFactory(make_session_factory(engine)))
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if engine is not None:
            engine.dispose()
    n = figures["customers"]
    print(f"database: {backend}")
    print(
        f"seeded {n:,} customers, {figures['entries']:,} ledger entries in {seeded:.1f} s ("
        + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in steps.items())
        + ")"
    )
    print(f"  (a) cached balances, one query          {figures['cached_all'] * 1000:8.0f} ms for {n:,} customers")
    print(f"      cached balances, balances_of x500   {figures['cached_paged'] * 1000:8.0f} ms")
    print(f"  (b) recomputed from the ledger (SUM)    {figures['ledger_all'] * 1000:8.0f} ms")
    print(f"  (c) ledger_balance, one customer        {figures['ledger_single'] * 1000:8.2f} ms (mean of 1,000)")
    print(f"cached balances agree with the ledger for all {n:,} customers ({figures['points']:,} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
