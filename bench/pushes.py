"""Pushes benchmark, part 1: decide and render a personalized automation for every customer.

Seeds N customers on LINE (followed, consented; 1 in 5 speaks English) with a year of purchases
(8 purchases of 2 products each from 40 products, the latest 3 to 4 days ago, so everyone is due for
"you might also like"), in a few INSERT ... SELECT statements. Then times:

  (a) `recommendations.refresh`: product pairs and repurchase intervals from the whole history (nightly),
  (b) `automations.run_now("recommendations")`: one candidate query, the 3 picks per customer with
      their reasons, the hold-out draw (10%), a Flex bubble rendered per send in the customer's
      language, outbox rows + decisions + hold-out assignments written with bulk inserts per chunk,
  (c) every automation's run (the others decide what is due for them: birthdays, reminders),
  (d) the same again (must decide nothing: the every-minute job's cost when nothing is new),

and checks one decision per customer, one outbox row per send, no customer twice.

    .venv/bin/python bench/pushes.py --database-url sqlite:////tmp/kizuna_bench_pushes.sqlite3
    .venv/bin/python bench/pushes.py --customers 200000   # PostgreSQL kizuna_bench_pushes on 127.0.0.1:5432

The database is dropped and recreated (its name must contain "bench"); the run is bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench_pushes"
PRODUCTS = 40
PURCHASES = 8  # per customer

from seeding import Seeder  # noqa: E402  (bench/ is not a package)
from webhook import BenchError, reset_database  # noqa: E402


def seed(engine, customers: int) -> dict[str, float]:
    """Fill the database; returns seconds per step."""
    seeder = Seeder(engine, customers)
    run, now_sql, true = seeder.run, seeder.now_sql, seeder.true
    run("stores", "INSERT INTO stores (code, name, active, created_at) VALUES ('BENCH', '渋谷店', true, :now)")
    run(
        "products",
        "INSERT INTO products (sku, name, category, price) SELECT 'P' || CAST(n AS TEXT),"
        " 'ブレンド No.' || CAST(n AS TEXT), 'coffee', 500 + n * 10 FROM bench_numbers WHERE n <= :products",
        products=PRODUCTS,
    )
    run(
        "customers",
        "INSERT INTO customers (member_number, external_id, name, locale, tier, marketing_opt_out, consented_at,"
        " birth_month, created_at, updated_at) SELECT CAST(9000000000 + n AS TEXT), 'B-' || CAST(n AS TEXT),"
        " '顧客 ' || CAST(n AS TEXT), 'ja', 'regular', false, :now, n % 12 + 1, :now, :now FROM bench_numbers",
    )
    run(
        "LINE identities",
        "INSERT INTO channel_identities (channel, address, customer_id, display_name, language, followed,"  # noqa: S608 (constant SQL)
        " consented_at, link_failures, created_at, updated_at) SELECT 'line', 'Ubench' || CAST(id AS TEXT), id,"
        f" name, CASE WHEN id % 5 = 0 THEN 'en' ELSE 'ja' END, {true}, :now, 0, :now, :now FROM customers",
    )
    latest = seeder.hours_before(now_sql, "72 + c.id % 20")
    earlier = seeder.days_before(now_sql, "k.n * 45 + c.id % 40")
    run(
        "purchases",
        "INSERT INTO purchases (external_id, customer_id, store_id, total, refunded_total, points_earned,"  # noqa: S608 (constant SQL fragments, no input)
        " points_used, source, occurred_at, created_at)"
        " SELECT 'BP-' || CAST(c.id AS TEXT) || '-' || CAST(k.n AS TEXT), c.id, s.id, 1200, 0, 0, 0, 'bench',"
        f" CASE WHEN k.n = {PURCHASES} THEN {latest} ELSE {earlier} END, :now"
        f" FROM customers c JOIN bench_numbers k ON k.n <= {PURCHASES} JOIN stores s ON s.code = 'BENCH'",
    )
    # two products per purchase; a customer's taste (id % 7) makes some pairs far more common than others
    sku = f"'P' || CAST(((p.customer_id % 7) * 5 + (p.id * j.n * 3) % 11 + j.n) % {PRODUCTS} + 1 AS TEXT)"
    run(
        "purchase items",
        "INSERT INTO purchase_items (purchase_id, sku, name, category, quantity, unit_price)"  # noqa: S608 (constant SQL)
        f" SELECT p.id, {sku}, 'x', 'coffee', 1, 600 FROM purchases p JOIN bench_numbers j ON j.n <= 2",
    )
    return seeder.finish()


def measure(services) -> dict:
    from sqlalchemy import func, select

    from crm_core import automations, outbox
    from crm_core.models import AutomationDecision, Customer, OutboxBody, OutboxMessage

    zone = services.settings.zone
    figures: dict = {}
    uow_factory = services.uow_factory
    with uow_factory() as uow:
        figures["customers"] = uow.session.scalar(select(func.count()).select_from(Customer))
        for key in automations.AUTOMATIONS:
            automations.update_automation(uow=uow, key=key, enabled=True, holdout_percent=10)
        uow.commit()

    started, cpu = time.perf_counter(), time.process_time()
    with uow_factory() as uow:
        refreshed = automations.refresh(uow=uow, zone=zone)
        uow.commit()
    figures["refresh"] = time.perf_counter() - started
    figures["refresh_cpu"] = time.process_time() - cpu
    figures["refreshed"] = refreshed.summary()

    started, cpu = time.perf_counter(), time.process_time()
    with uow_factory() as uow:
        report = automations.run_now(uow=uow, render=services.automation_render(uow), zone=zone, key="recommendations")
    figures["decide"] = time.perf_counter() - started
    figures["decide_cpu"] = time.process_time() - cpu
    figures["report"] = report

    started = time.perf_counter()
    with uow_factory() as uow:
        others = automations.run_due(uow=uow, render=services.automation_render(uow), zone=zone)
    figures["others"] = time.perf_counter() - started
    figures["others_report"] = others.summary()

    started = time.perf_counter()
    with uow_factory() as uow:
        again = automations.run_due(uow=uow, render=services.automation_render(uow), zone=zone)
    figures["again"] = time.perf_counter() - started
    figures["again_total"] = again.total

    with uow_factory() as uow:
        session = uow.session
        decided = session.execute(
            select(AutomationDecision.outcome, func.count())
            .where(AutomationDecision.automation == "recommendations")
            .group_by(AutomationDecision.outcome)
        ).all()
        figures["decided"] = dict(decided)
        recommended = OutboxMessage.dedupe_key.like("auto:recommendations:%")
        figures["outbox"] = session.scalar(select(func.count()).where(recommended))
        figures["outbox_customers"] = session.scalar(
            select(func.count(func.distinct(OutboxMessage.customer_id))).where(recommended)
        )
        if figures["outbox"] != figures["decided"].get("send", 0):
            raise BenchError(f"{figures['outbox']} outbox rows for {figures['decided'].get('send', 0)} sends")
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id).limit(1)).first()
        sample = outbox.contents(uow=uow, rows=[first])[first.id]
        figures["sample_items"] = str(sample).count("ご購入いただいたため") + str(sample).count("Because you bought")
        figures["bodies"] = session.scalar(select(func.count()).select_from(OutboxBody))
    counted = sum(figures["decided"].values())
    if counted != figures["customers"]:
        raise BenchError(f"{counted} decisions for {figures['customers']} customers")
    if figures["outbox_customers"] != figures["outbox"]:
        raise BenchError(f"{figures['outbox']} outbox rows for {figures['outbox_customers']} customers")
    if figures["again_total"]:
        raise BenchError(f"the second run decided {figures['again_total']} more")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--aim-seconds", type=float, default=None, help="10 on SQLite, 60 on PostgreSQL by default")
    parser.add_argument("--max-seconds", type=int, default=1800, help="Stop the whole run after this long.")
    args = parser.parse_args(argv)

    def too_long(*_):
        raise BenchError(f"stopped after --max-seconds {args.max_seconds}")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)

    from bot.app import build_services
    from crm_core.config import Settings

    sqlite = args.database_url.startswith("sqlite")
    aim = args.aim_seconds or (10.0 if sqlite else 60.0) * args.customers / (100_000 if sqlite else 1_000_000)
    services = None
    load = os.getloadavg()[0]
    try:
        reset_database(args.database_url)
        settings = Settings.from_env({}, database_url=args.database_url, public_url="https://kizuna.example")
        services = build_services(settings, workers=1)
        started = time.perf_counter()
        steps = seed(services.engine, args.customers)
        seeded = time.perf_counter() - started
        figures = measure(services)
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if services is not None:
            services.pump.shutdown()
            services.engine.dispose()
    n = figures["customers"]
    report = figures["report"].decided["recommendations"]
    print(f"database: {'SQLite' if sqlite else 'PostgreSQL'}; load average before: {load:.1f}")
    print(
        f"seeded {n:,} customers with {n * PURCHASES:,} purchases in {seeded:.1f} s ("
        + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in steps.items())
        + ")"
    )
    print(
        f"  (a) recommendations.refresh            {figures['refresh']:8.2f} s  (CPU {figures['refresh_cpu']:.2f} s;"
        f" {figures['refreshed']})"
    )
    print(
        f"  (b) decide + render recommendations    {figures['decide']:8.2f} s  for {n:,} customers"
        f" = {n / figures['decide']:,.0f}/s; send {report['send']:,}, holdout {report['holdout']:,},"
        f" skipped {report['skipped']:,} (aim: {aim:.0f} s); CPU of this process {figures['decide_cpu']:.2f} s"
    )
    print(f"  (c) every automation, first run        {figures['others']:8.2f} s  ({figures['others_report']})")
    print(f"  (d) every automation again             {figures['again']:8.2f} s  decided {figures['again_total']}")
    print(
        f"one decision per customer, {figures['outbox']:,} outbox rows for as many customers"
        f" ({figures['bodies']:,} distinct messages stored); "
        f"the first message recommends {figures['sample_items']} products with their reasons"
    )
    return 0 if figures["decide"] <= aim else 2


if __name__ == "__main__":
    sys.exit(main())
