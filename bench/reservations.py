"""Reservations benchmark: free times of a busy store, and booking under 20 concurrent customers.

Sets up one store open 09:00-19:15 every day with a start every 15 minutes, 20 stylists (one place
each) and a 30-minute cut that takes any free stylist: 40 start times a day. Over the next 30 days it
seeds 10,000 booked cuts (about 333 a day, 81 % of the stylists' time), written straight into
`bookings` and `booking_claims` (6 five-minute units each, as `reservations.book` takes them). Then:

  (a) `reservations.free_slots` for each of the 30 days (one unit of work per day, as a request has),
      `--rounds` times after a warm-up round: median and p95 per day queried; aim on PostgreSQL 20 ms;
  (b) `--customers` threads (20) each looking at a random day's free times and booking one of them
      through `reservations.book`, `--each` bookings each, over the 30 days (the seeded 81 % leave
      about 50 places a day, so they compete for what is left): bookings/s, each book()'s median and
      p95, the count of SlotTaken, and a check that no stylist has two bookings at once (from the
      bookings themselves, not the claims).

    .venv/bin/python bench/reservations.py            # PostgreSQL kizuna_bench_resv on 127.0.0.1:5432 (DROPPED)
    .venv/bin/python bench/reservations.py --database-url sqlite:////tmp/kizuna_bench_resv.sqlite3

The database is dropped and recreated (its name must contain "bench"). The clock is held still at the
start of the run, so the 30 days are the same for every round.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from webhook import BenchError, reset_database  # noqa: E402  (bench/ is not a package)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench_resv"
TOKYO = ZoneInfo("Asia/Tokyo")
OPENS, CLOSES = 9 * 60, 19 * 60 + 15  # 40 start times of a 30-minute cut, every 15 minutes
SLOT, LENGTH = 15, 30
STYLISTS = 20
DAYS = 30
AIM_MS = 20.0
CUSTOMERS = 500


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def setup(uow_factory, bookings: int, seed: int) -> dict:
    """The store, its stylists and menu, customers, and `bookings` booked cuts over the next 30 days."""
    from sqlalchemy import insert

    from crm_core import customers, hours, reservations
    from crm_core.models import Booking, BookingClaim, Store

    with uow_factory() as uow:
        weekly = (((OPENS, CLOSES),),) * 7
        store = Store(code="BENCH", name="ベンチ美容室", created_at=uow.now())
        store.business_hours = hours.BusinessHours(weekly=weekly).as_json()
        uow.session.add(store)
        uow.session.flush()
        reservations.update_settings(uow=uow, store_id=store.id, slot_minutes=SLOT, horizon_days=60)
        codes = [f"s{n:02d}" for n in range(STYLISTS)]
        stylists = [
            reservations.upsert_resource(uow=uow, store_id=store.id, code=code, name=f"スタイリスト{code}")
            for code in codes
        ]
        menu = reservations.upsert_menu(
            uow=uow, store_id=store.id, code="cut", name="カット", duration_minutes=LENGTH, price=5500,
            resource_codes=codes,
        )  # fmt: skip
        people = [customers.create_customer(uow=uow, name=f"客{n}").id for n in range(CUSTOMERS)]
        uow.commit()
        now, ids = uow.now(), (store.id, menu.id, [s.id for s in stylists])

    store_id, menu_id, stylist_ids = ids
    first_day = now.astimezone(TOKYO).date() + timedelta(days=1)
    rng = random.Random(seed)
    per_day = [bookings // DAYS + (1 if n < bookings % DAYS else 0) for n in range(DAYS)]
    quarters = (CLOSES - OPENS) // SLOT
    rows, claims = [], []
    for offset, wanted in enumerate(per_day):
        day = first_day + timedelta(days=offset)
        opening = datetime.combine(day, datetime.min.time(), tzinfo=TOKYO).astimezone(UTC) + timedelta(minutes=OPENS)
        candidates = []
        for stylist in stylist_ids:  # each stylist's day packed with cuts and a few gaps: never two at once
            quarter = rng.randrange(2)
            while quarter + LENGTH // SLOT <= quarters:
                candidates.append((stylist, quarter))
                quarter += LENGTH // SLOT + (1 if rng.random() < 0.1 else 0)
        if len(candidates) < wanted:
            raise BenchError(f"only {len(candidates)} places a day for {wanted} bookings")
        for stylist, quarter in rng.sample(candidates, wanted):
            starts_at = opening + timedelta(minutes=SLOT * quarter)
            rows.append((stylist, starts_at))
    with uow_factory() as uow:
        booking_ids = uow.session.execute(
            insert(Booking).returning(Booking.id, sort_by_parameter_order=True),
            [
                {
                    "store_id": store_id, "menu_id": menu_id, "resource_id": stylist,
                    "customer_id": people[n % len(people)], "starts_at": starts_at,
                    "ends_at": starts_at + timedelta(minutes=LENGTH), "status": "booked",
                    "price": 5500, "source": "api", "created_at": now, "updated_at": now,
                }
                for n, (stylist, starts_at) in enumerate(rows)
            ],
        ).scalars().all()  # fmt: skip
        for booking_id, (stylist, starts_at) in zip(booking_ids, rows, strict=True):
            claims.extend(
                {"resource_id": stylist, "starts_at": starts_at + timedelta(minutes=5 * n), "place": 1,
                 "booking_id": booking_id}
                for n in range(LENGTH // 5)
            )  # fmt: skip
        uow.session.execute(insert(BookingClaim), claims)
        uow.commit()
    return {
        "store_id": store_id,
        "menu_id": menu_id,
        "customers": people,
        "first_day": first_day,
        "claims": len(claims),
        "now": now,
    }


def measure_free_slots(uow_factory, seeded: dict, rounds: int) -> tuple[list[float], list[int]]:
    """Milliseconds per day queried over `rounds` rounds of the 30 days (after one warm-up round)."""
    from crm_core import reservations
    from crm_core.models import BookingMenu, Store

    timings, offered = [], []
    for round_ in range(rounds + 1):
        for offset in range(DAYS):
            day = seeded["first_day"] + timedelta(days=offset)
            started = time.perf_counter()
            with uow_factory() as uow:  # what one request does: the store, its rules, the menu, the free times
                store = uow.session.get(Store, seeded["store_id"])
                menu = uow.session.get(BookingMenu, seeded["menu_id"])
                rules = reservations.rules_for(uow=uow, store=store, zone=TOKYO)
                slots = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=day, include_full=True)
            elapsed = (time.perf_counter() - started) * 1000
            if len(slots) != (CLOSES - OPENS - LENGTH) // SLOT + 1:
                raise BenchError(f"{len(slots)} start times on {day}")
            if round_:
                timings.append(elapsed)
                offered.append(sum(1 for slot in slots if slot.free))
    return timings, offered


def measure_booking(uow_factory, seeded: dict, threads: int, each: int, days: int, max_seconds: float) -> dict:
    """`threads` customers at once, each looking at a day's free times and booking one, `each` times."""
    from crm_core import reservations
    from crm_core.errors import SlotTaken
    from crm_core.models import BookingMenu, Store

    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    results = {"booked": 0, "taken": 0, "nothing_free": 0, "errors": Counter(), "book_ms": []}
    deadline = time.monotonic() + max_seconds

    def customer(n: int) -> None:
        rng = random.Random(1000 + n)
        who = seeded["customers"][n * 7 % len(seeded["customers"])]
        barrier.wait(timeout=60)
        done, empty = 0, 0
        while done < each and empty < 3 * days and time.monotonic() < deadline:
            day = seeded["first_day"] + timedelta(days=rng.randrange(days))
            with uow_factory() as uow:
                store = uow.session.get(Store, seeded["store_id"])
                menu = uow.session.get(BookingMenu, seeded["menu_id"])
                rules = reservations.rules_for(uow=uow, store=store, zone=TOKYO)
                free = reservations.free_slots(uow=uow, rules=rules, menu=menu, day=day)
            if not free:
                empty += 1  # a customer who finds nothing free on many days gives up
                with lock:
                    results["nothing_free"] += 1
                continue
            empty = 0
            chosen = rng.choice(free).starts_at
            started = time.perf_counter()
            try:
                with uow_factory() as uow:
                    store = uow.session.get(Store, seeded["store_id"])
                    menu = uow.session.get(BookingMenu, seeded["menu_id"])
                    reservations.book(
                        uow=uow, customer_id=who, store=store, menu=menu, starts_at=chosen, zone=TOKYO, source="api"
                    )
                    uow.commit()
                outcome = "booked"
                done += 1
            except SlotTaken:
                outcome = "taken"
            except Exception as error:  # noqa: BLE001  (counted and reported: a bench must not hang on one)
                outcome = type(error).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if outcome in ("booked", "taken"):
                    results[outcome] += 1
                    results["book_ms"].append(elapsed)
                else:
                    results["errors"][outcome] += 1

    workers = [threading.Thread(target=customer, args=(n,)) for n in range(threads)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results["seconds"], results["cpu"] = time.perf_counter() - started, time.process_time() - cpu
    return results


def check_capacity(uow_factory, seeded: dict) -> tuple[int, int]:
    """(booked cuts, the most bookings one stylist has in any 5-minute unit), from the bookings themselves."""
    from sqlmodel import select

    from crm_core.models import Booking

    taken: Counter = Counter()
    with uow_factory() as uow:
        rows = uow.session.exec(
            select(Booking.resource_id, Booking.starts_at, Booking.ends_at).where(
                Booking.store_id == seeded["store_id"], Booking.status == "booked"
            )
        ).all()
    for resource_id, starts_at, ends_at in rows:
        unit = starts_at
        while unit < ends_at:
            taken[resource_id, unit] += 1
            unit += timedelta(minutes=5)
    return len(rows), max(taken.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--bookings", type=int, default=10_000, help="booked cuts seeded over the 30 days")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the 30 days for (a)")
    parser.add_argument("--customers", type=int, default=20, help="concurrent customers for (b)")
    parser.add_argument("--each", type=int, default=25, help="bookings each customer makes in (b)")
    parser.add_argument("--booking-days", type=int, default=DAYS, help="(b) books within the first this many days")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="(b) stops after this long")
    args = parser.parse_args(argv)

    from crm_core.clock import FakeClock
    from crm_core.db import make_engine, make_session_factory
    from crm_core.uow import UnitOfWorkFactory

    sqlite = args.database_url.startswith("sqlite")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    engine = None
    try:
        reset_database(args.database_url)
        engine = make_engine(args.database_url, pool_size=args.customers + 2)
        clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        uow_factory = UnitOfWorkFactory(make_session_factory(engine), clock)
        started = time.perf_counter()
        seeded = setup(uow_factory, args.bookings, seed=20261125)
        if not sqlite:
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        seeding = time.perf_counter() - started
        timings, offered = measure_free_slots(uow_factory, seeded, args.rounds)
        booking = measure_booking(uow_factory, seeded, args.customers, args.each, args.booking_days, args.max_seconds)
        booked, most = check_capacity(uow_factory, seeded)
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        if engine is not None:
            engine.dispose()
    after = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    median, p95 = statistics.median(timings), _quantile(timings, 0.95)
    database = "SQLite" if sqlite else "PostgreSQL"
    print(f"database: {database}; load average before {' '.join(load)}, after {' '.join(after)}")
    print(
        f"seeded {args.bookings:,} booked cuts ({seeded['claims']:,} claims) of {STYLISTS} stylists over {DAYS} days"
        f" in {seeding:.1f} s; {CUSTOMERS} customers"
    )
    print(
        f"(a) free_slots, {DAYS} days x {args.rounds} rounds: median {median:.1f} ms, p95 {p95:.1f} ms,"
        f" max {max(timings):.1f} ms per day queried (aim {AIM_MS:.0f} ms);"
        f" free start times a day {min(offered)}-{max(offered)} of 40"
    )
    seconds, ms = booking["seconds"], booking["book_ms"]
    print(
        f"(b) {args.customers} customers, {booking['booked']:,} bookings in {seconds:.1f} s ="
        f" {booking['booked'] / seconds:.1f} bookings/s (each: look at a day's free times, book one);"
        f" book() median {statistics.median(ms):.1f} ms, p95 {_quantile(ms, 0.95):.1f} ms;"
        f" SlotTaken {booking['taken']}, days with nothing free {booking['nothing_free']};"
        f" CPU of this process {booking['cpu']:.1f} s (one interpreter: the threads share one core's worth)"
    )
    if booking["errors"]:
        print(f"    errors: {dict(booking['errors'])}")
    print(
        f"    {booked:,} booked cuts at the end; the most bookings of one stylist in one 5-minute unit: {most}"
        f" ({'never over capacity' if most <= 1 else 'OVER CAPACITY'})"
    )
    if most > 1 or booking["errors"] or booked != args.bookings + booking["booked"]:
        return 1
    return 0 if sqlite or p95 <= AIM_MS else 2


if __name__ == "__main__":
    sys.exit(main())
