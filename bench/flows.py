"""Segments and coupon flows benchmark: a segment's size, and a flow's issue, over N customers.

Seeds N customers on LINE (followed, consented; 1 in 5 speaks English) with a year of purchases (6 each,
every 37 days back from a latest purchase 0 to 119 days ago, ¥500-3,200, one product of 40 in one of 4
categories), in a few INSERT ... SELECT statements. Then times:

  (a) the size of four segments (rules on recency, frequency and spend, a category with engagement,
      RFM scores), each compiled to one query,
  (b) a scheduled coupon flow to everyone who agreed (a coupon, a message and a 10 % hold-out per
      customer: decisions, hold-outs, outbox rows, coupons and timeline entries),
  (c) a win-back flow (no purchase in 60 days) to a segment,

and checks one coupon per send, the coupon's issued count, no customer twice.

    .venv/bin/python bench/flows.py --database-url sqlite:////tmp/kizuna_bench_flows.sqlite3
    .venv/bin/python bench/flows.py   # PostgreSQL kizuna_bench_flows on 127.0.0.1:5432 (DROPPED)

The database is dropped and recreated (its name must contain "bench"); aims (PostgreSQL, 100,000
customers): a segment's size within 1 s, a flow's issue within 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from seeding import Seeder  # noqa: E402  (bench/ is not a package)
from webhook import BenchError, reset_database  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench_flows"
PURCHASES = 6
SEGMENTS = {
    "win-back (no purchase in 60 days)": [{"field": "recency_days", "op": ">=", "value": 60}],
    "regulars (3+ purchases in 180 days, ¥3,000+ in a year)": [
        {"field": "frequency", "op": ">=", "value": 3, "days": 180},
        {"field": "monetary", "op": ">=", "value": 3000, "days": 365},
    ],
    "tea buyers on LINE (90 days)": [
        {"field": "bought_category", "op": "in", "value": ["tea"], "days": 90},
        {"field": "line_friend", "op": "is", "value": True},
        {"field": "consented", "op": "is", "value": True},
    ],
    "best customers (RFM recency and spend 4+)": [
        {"field": "rfm_r", "op": ">=", "value": 4},
        {"field": "rfm_m", "op": ">=", "value": 4},
    ],
}


def seed(engine, customers: int) -> dict[str, float]:
    seeder = Seeder(engine, customers)
    run, now_sql, true = seeder.run, seeder.now_sql, seeder.true
    run("stores", "INSERT INTO stores (code, name, active, created_at) VALUES ('BENCH', '渋谷店', true, :now)")
    run(
        "products",
        "INSERT INTO products (sku, name, category, price) SELECT 'P' || CAST(n AS TEXT),"
        " 'ブレンド No.' || CAST(n AS TEXT), 'coffee', 500 + n * 10 FROM bench_numbers WHERE n <= 40",
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
    when = seeder.days_before(now_sql, "c.id % 120 + (k.n - 1) * 37")
    run(
        "purchases",
        "INSERT INTO purchases (external_id, customer_id, store_id, total, refunded_total, points_earned,"  # noqa: S608 (constant SQL fragments)
        " points_used, source, occurred_at, created_at)"
        " SELECT 'BP-' || CAST(c.id AS TEXT) || '-' || CAST(k.n AS TEXT), c.id, s.id,"
        f" 500 + ((c.id * k.n) % 10) * 300, 0, 0, 0, 'bench', {when}, :now"
        f" FROM customers c JOIN bench_numbers k ON k.n <= {PURCHASES} JOIN stores s ON s.code = 'BENCH'",
    )
    run(
        "purchase items",
        "INSERT INTO purchase_items (purchase_id, sku, name, category, quantity, unit_price)"
        " SELECT p.id, 'P' || CAST(p.id % 40 + 1 AS TEXT), 'x',"
        " CASE p.id % 4 WHEN 0 THEN 'coffee' WHEN 1 THEN 'tea' WHEN 2 THEN 'sweets' ELSE 'goods' END, 1, p.total"
        " FROM purchases p",
    )
    return seeder.finish()


def measure(services) -> dict:
    from sqlalchemy import func, select

    from crm_core import automations, coupons, flows, segments
    from crm_core.coupons.definitions import CouponSpec
    from crm_core.models import Coupon, Customer, CustomerCoupon

    zone = services.settings.zone
    figures: dict = {"sizes": {}}
    with services.uow_factory() as uow:
        figures["customers"] = uow.session.scalar(select(func.count()).select_from(Customer))
        for label, conditions in SEGMENTS.items():
            rules = {"conditions": conditions}
            segments.size(uow=uow, rules=rules, zone=zone)  # warm: the plan, the pages
            started = time.perf_counter()
            size = segments.size(uow=uow, rules=rules, zone=zone)
            figures["sizes"][label] = (size, time.perf_counter() - started)
        everyone = segments.save_segment(
            uow=uow, name="agreed", rules={"conditions": [{"field": "consented", "op": "is", "value": True}]}
        )
        lapsed = segments.save_segment(
            uow=uow, name="win-back", rules={"conditions": SEGMENTS["win-back (no purchase in 60 days)"]}
        )
        coupon = coupons.define_coupon(
            uow=uow,
            spec=CouponSpec(
                title="冬のクーポン",
                benefit_kind="yen_off",
                benefit_value=300,
                valid_days=14,
                obtain="flow",
                per_customer_limit=None,
            ),
        )
        uow.session.flush()
        today = uow.now().astimezone(zone).date()
        scheduled = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="冬の感謝祭",
                trigger="scheduled",
                params={"on": today.isoformat()},
                segment_id=everyone.id,
                coupon_id=coupon.id,
            ),
        )
        win_back = flows.save_flow(
            uow=uow,
            spec=flows.FlowSpec(
                name="おかえり",
                trigger="lapsed",
                params={"days": 60},
                segment_id=lapsed.id,
                coupon_id=coupon.id,
                paused=True,
            ),
        )
        uow.commit()
        coupon_id, scheduled_key, win_back_id = coupon.id, automations.flow_key(scheduled.id), win_back.id

    started, cpu = time.perf_counter(), time.process_time()
    with services.uow_factory() as uow:
        report = automations.run_flows(uow=uow, render=services.automation_render(uow), zone=zone)
    figures["scheduled"] = (time.perf_counter() - started, time.process_time() - cpu, report.decided[scheduled_key])

    with services.uow_factory() as uow:
        flows.set_paused(uow=uow, flow_id=scheduled.id, paused=True)
        flows.set_paused(uow=uow, flow_id=win_back_id, paused=False)
        uow.commit()
    started, cpu = time.perf_counter(), time.process_time()
    with services.uow_factory() as uow:
        report = automations.run_flows(uow=uow, render=services.automation_render(uow), zone=zone)
    figures["win_back"] = (
        time.perf_counter() - started,
        time.process_time() - cpu,
        report.decided[automations.flow_key(win_back_id)],
    )

    with services.uow_factory() as uow:
        held = uow.session.scalar(select(func.count()).select_from(CustomerCoupon))
        holders = uow.session.scalar(
            select(func.count(func.distinct(CustomerCoupon.customer_id))).where(
                CustomerCoupon.idempotency_key.like(f"{scheduled_key}:%")
            )
        )
        issued = uow.session.get(Coupon, coupon_id).issued
    sends = figures["scheduled"][2]["send"] + figures["win_back"][2]["send"]
    if not held == issued == sends:
        raise BenchError(f"{held} coupons held, {issued} counted issued, {sends} sends")
    if holders != figures["scheduled"][2]["send"]:
        raise BenchError(
            f"{holders} customers hold the scheduled flow's coupons for {figures['scheduled'][2]['send']} sends"
        )
    figures["held"] = held
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args(argv)

    from bot.app import build_services
    from crm_core.config import Settings

    sqlite = args.database_url.startswith("sqlite")
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
        if services is not None:
            services.pump.shutdown()
            services.engine.dispose()
    n = figures["customers"]
    print(f"database: {'SQLite' if sqlite else 'PostgreSQL'}; load average before: {load:.1f}")
    print(
        f"seeded {n:,} customers with {n * PURCHASES:,} purchases in {seeded:.1f} s ("
        + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in steps.items())
        + ")"
    )
    worst = 0.0
    for label, (size, seconds) in figures["sizes"].items():
        worst = max(worst, seconds)
        print(f"  (a) segment size  {seconds * 1000:8.0f} ms  {size:>8,} customers  {label}")
    for label, key in (("(b) scheduled flow to everyone who agreed", "scheduled"), ("(c) win-back flow", "win_back")):
        seconds, cpu, counts = figures[key]
        print(
            f"  {label:<42} {seconds:7.2f} s  send {counts['send']:,}, holdout {counts['holdout']:,},"
            f" skipped {counts['skipped']:,} ({n / seconds:,.0f} customers/s; CPU of this process {cpu:.2f} s)"
        )
    print(f"{figures['held']:,} coupons held, as many as sends and as the coupon's issued count; none twice")
    aims_met = worst <= 1.0 * n / 100_000 and figures["scheduled"][0] <= 10.0 * n / 100_000
    return 0 if aims_met or sqlite else 2


if __name__ == "__main__":
    sys.exit(main())
