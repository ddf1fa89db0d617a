"""Import benchmark: `kizuna import purchases` of 100,000 rows, with and without --with-points.

Generates a CSV of customers and one of purchases (one row per purchase, each with one item, over the
last year) in a temporary directory, then for each mode resets the database, imports the customers
and times the purchase import through the same code path as the CLI. The aim is under 30 s for
100,000 purchase rows.

    .venv/bin/python bench/imports.py                   # PostgreSQL kizuna_bench_imports on 127.0.0.1:5432
    .venv/bin/python bench/imports.py --database-url sqlite:////tmp/kizuna_bench_imports.sqlite3

The database is dropped and recreated (its name must contain "bench"); the run is bounded by
--max-seconds.
"""

from __future__ import annotations

import argparse
import csv
import random
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from webhook import BenchError, reset_database  # noqa: E402  (bench/ is not a package)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench_imports"
AIM_SECONDS = 30.0
STORES = (("SHIBUYA", "渋谷店"), ("YOKOHAMA", "横浜店"), ("UMEDA", "梅田店"))
ITEMS = (("BEAN-001", "ブラジル 200g", "コーヒー豆", 1480), ("DRINK-002", "カフェラテ", "ドリンク", 520),
         ("FOOD-002", "チーズケーキ", "フード", 480), ("GOODS-001", "マグカップ", "グッズ", 1800))  # fmt: skip
ZONE = ZoneInfo("Asia/Tokyo")


def write_files(folder: Path, *, customers: int, purchases: int, seed: int = 7) -> tuple[Path, Path]:
    """customers.csv (UTF-8 with BOM, Japanese headers) and purchases.csv (Shift_JIS), as Excel writes them."""
    rng = random.Random(seed)
    customers_path, purchases_path = folder / "customers.csv", folder / "purchases.csv"
    with customers_path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["会員ID", "氏名", "生年月日", "電話番号", "メールアドレス"])
        for n in range(customers):
            birth = f"{rng.randint(1950, 2005)}/{rng.randint(1, 12)}/{rng.randint(1, 28)}"
            writer.writerow([f"POS-{n:06d}", f"顧客 {n:06d}", birth, f"090-{n % 10000:04d}-{n // 10000:04d}", ""])
    now = datetime.now(UTC)
    with purchases_path.open("w", newline="", encoding="cp932") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["取引ID", "顧客ID", "店舗コード", "日時", "合計", "商品コード", "商品名", "カテゴリ", "数量", "単価"]
        )
        for n in range(purchases):
            sku, name, category, price = rng.choice(ITEMS)
            quantity = rng.choice((1, 1, 2, 3))
            when = (now - timedelta(days=rng.randint(1, 364), minutes=rng.randint(0, 720))).astimezone(ZONE)
            writer.writerow([
                f"R-{n:07d}", f"POS-{rng.randrange(customers):06d}", rng.choice(STORES)[0],
                when.strftime("%Y/%m/%d %H:%M"), f"{price * quantity:,}", sku, name, category, quantity, price,
            ])  # fmt: skip
    return customers_path, purchases_path


def run_mode(url: str, customers_csv: Path, purchases_csv: Path, *, with_points: bool) -> dict:
    from sqlalchemy import func, select

    from crm_core.db import make_engine, make_session_factory
    from crm_core.imports import import_customers, import_purchases
    from crm_core.models import PointAccount, PointEntry, Store
    from crm_core.uow import UnitOfWorkFactory

    reset_database(url)
    engine = make_engine(url)
    uow_factory = UnitOfWorkFactory(make_session_factory(engine))
    try:
        with uow_factory() as uow:
            uow.session.add_all(Store(code=code, name=name, created_at=uow.now()) for code, name in STORES)
            uow.commit()
        started = time.perf_counter()
        imported = import_customers(uow_factory=uow_factory, path=customers_csv)
        customer_seconds = time.perf_counter() - started
        if imported.errors:
            raise BenchError(f"customers: {imported.errors[0].describe('en')}")
        started = time.perf_counter()
        report = import_purchases(uow_factory=uow_factory, path=purchases_csv, zone=ZONE, with_points=with_points)
        seconds = time.perf_counter() - started
        if report.errors:
            raise BenchError(f"purchases: {report.errors[0].describe('en')}")
        with uow_factory() as uow:
            ledger = uow.session.execute(select(func.coalesce(func.sum(PointEntry.amount), 0))).scalar_one()
            cached = uow.session.execute(select(func.coalesce(func.sum(PointAccount.balance), 0))).scalar_one()
        if ledger != cached:
            raise BenchError(f"cached balances {cached} != ledger {ledger}")
        return {
            "customers": imported.imported,
            "customer_seconds": customer_seconds,
            "rows": report.rows,
            "imported": report.imported,
            "points": report.points,
            "seconds": seconds,
        }
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=int, default=600, help="Stop the whole run after this long.")
    args = parser.parse_args(argv)

    def too_long(*_):
        raise BenchError(f"stopped after --max-seconds {args.max_seconds}")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)
    backend = "SQLite" if args.database_url.startswith("sqlite") else "PostgreSQL"
    try:
        with tempfile.TemporaryDirectory(prefix="kizuna-bench-imports-") as folder:
            started = time.perf_counter()
            customers_csv, purchases_csv = write_files(Path(folder), customers=args.customers, purchases=args.purchases)
            size = purchases_csv.stat().st_size / 1e6
            print(
                f"generated {args.customers:,} customers and {args.purchases:,} purchase rows "
                f"in {time.perf_counter() - started:.1f} s ({size:.1f} MB Shift_JIS)"
            )
            print(f"database: {backend}; aim: {args.purchases:,} purchase rows in under {AIM_SECONDS:.0f} s")
            results = {}
            for with_points in (False, True):
                result = run_mode(args.database_url, customers_csv, purchases_csv, with_points=with_points)
                label = "with --with-points" if with_points else "without points"
                results[label] = result
                print(
                    f"  customers  {result['customers']:>8,} rows in {result['customer_seconds']:6.2f} s "
                    f"({result['customers'] / result['customer_seconds']:>8,.0f} rows/s)"
                )
                print(
                    f"  purchases  {result['rows']:>8,} rows in {result['seconds']:6.2f} s "
                    f"({result['rows'] / result['seconds']:>8,.0f} rows/s)  {label}"
                    + (f", {result['points']:,} points granted" if with_points else "")
                )
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    worst = max(result["seconds"] for result in results.values())
    verdict = "meets" if worst < AIM_SECONDS else "MISSES"
    print(f"{verdict} the aim: slowest purchase import {worst:.2f} s (aim < {AIM_SECONDS:.0f} s)")
    return 0 if worst < AIM_SECONDS else 2


if __name__ == "__main__":
    sys.exit(main())
