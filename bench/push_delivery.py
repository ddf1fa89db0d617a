"""Push delivery benchmark: the dispatcher against the LINE emulator with its rate limits.

Two campaigns, one after the other, each one marketing outbox row per customer: (1) a personal note
to `--pushes` customers (one push each), (2) the same sale to all `--customers` (multicasts of 500).
Starts the LINE emulator in its own process with per-endpoint rate limits, runs
`kizuna outbox deliver --until-done` in one or more dispatcher processes (sharing the limits through
the database) for each campaign, and prints per campaign: requests/s achieved as a share of the
limit, recipients per request, 429s (all, and after the first second of warm-up), duplicates and losses.

    .venv/bin/python bench/push_delivery.py                                 # SQLite /tmp/kizuna_bench_push.sqlite3
    .venv/bin/python bench/push_delivery.py --database-url postgresql://postgres@127.0.0.1:5432/kizuna_bench_push
    .venv/bin/python bench/push_delivery.py --push-rate 2000 --multicast-rate 200   # LINE's published limits

The limits default to a twentieth of LINE's (push 100/s, multicast 10/s): the emulator is one Python
process that answers a few hundred requests a second on a busy two-core machine, so at LINE's own
limits the emulator, not the dispatcher, would be measured. Pacing does not depend on the rate.
The database is dropped and recreated (its name must contain "bench"); the run is bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from webhook import BenchError, reset_database  # noqa: E402  (bench/ is not a package)

DEFAULT_DATABASE_URL = "sqlite:////tmp/kizuna_bench_push.sqlite3"
ACCESS_TOKEN = "bench-access-token"  # noqa: S105 - the emulator's, made up here
SALE = [{"type": "text", "text": "冬のセール: 会員さまは全品15%オフ"}]
WARM_UP = 1.0  # seconds after the first request of an endpoint before 429s count against the aim


def _emulator_main(conn, users: list[str], push_rate: float, multicast_rate: float) -> None:
    """Serve a LineEmulator with the rate limits; answer "stats" with what LINE saw."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    from bot.simulator import EmulatorServer

    server = EmulatorServer(channel_secret="bench-secret", channel_access_token=ACCESS_TOKEN)
    emulator = server.emulator
    for line_user_id in users:
        emulator.add_user("ベンチ", line_user_id=line_user_id)
        emulator.follow(line_user_id)
    emulator.set_rate_limits({"push": push_rate, "multicast": multicast_rate})
    emulator.reset()  # forget the follows; keep the users
    emulator.set_rate_limits({"push": push_rate, "multicast": multicast_rate})
    conn.send(server.base_url)
    try:
        while True:
            command = conn.recv()
            if command == "reset":  # the next campaign: forget requests and messages, keep users and limits
                emulator.reset()
                emulator.set_rate_limits({"push": push_rate, "multicast": multicast_rate})
                conn.send(True)
            elif command == "stats":
                with emulator._lock:
                    requests = [(r.path.rsplit("/", 1)[-1], r.status, r.at, _recipients(r)) for r in emulator.requests]
                conn.send({"requests": requests, "received": emulator.received_counts()})
            elif command == "stop":
                break
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        server.close()


def _recipients(record) -> int:
    to = (record.json or {}).get("to")
    return len(to) if isinstance(to, list) else 1


def seed(database_url: str, users: list[str]) -> float:
    """One consented customer per LINE user; returns seconds."""
    from sqlalchemy import insert, select

    from crm_core.clock import SystemClock
    from crm_core.db import make_engine, make_session_factory
    from crm_core.models import ChannelIdentity, Customer
    from crm_core.uow import UnitOfWorkFactory

    started = time.perf_counter()
    engine = make_engine(database_url)
    uow_factory = UnitOfWorkFactory(make_session_factory(engine), SystemClock())
    with uow_factory() as uow:
        now = uow.now()
        for start in range(0, len(users), 5000):
            chunk = range(start, min(start + 5000, len(users)))
            uow.session.execute(
                insert(Customer),
                [
                    {
                        "member_number": f"B{index:07d}",
                        "name": f"ベンチ{index}",
                        "locale": "ja",
                        "tier": "regular",
                        "marketing_opt_out": False,
                        "consented_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for index in chunk
                ],
            )
        ids = dict(uow.session.execute(select(Customer.member_number, Customer.id)).all())
        for start in range(0, len(users), 5000):
            chunk = range(start, min(start + 5000, len(users)))
            uow.session.execute(
                insert(ChannelIdentity),
                [
                    {
                        "channel": "line",
                        "address": users[index],
                        "customer_id": ids[f"B{index:07d}"],
                        "followed": True,
                        "link_failures": 0,
                        "consented_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for index in chunk
                ],
            )
        uow.commit()
    engine.dispose()
    return time.perf_counter() - started


def queue(database_url: str, users: list[str], campaign: str) -> None:
    """One marketing outbox row per user: a personal note each, or the same sale for all."""
    from sqlalchemy import insert, select

    from crm_core.clock import SystemClock
    from crm_core.db import make_engine, make_session_factory
    from crm_core.models import ChannelIdentity, OutboxMessage
    from crm_core.uow import UnitOfWorkFactory

    engine = make_engine(database_url)
    uow_factory = UnitOfWorkFactory(make_session_factory(engine), SystemClock())
    with uow_factory() as uow:
        now = uow.now()
        customer_of = dict(uow.session.execute(select(ChannelIdentity.address, ChannelIdentity.customer_id)).all())
        for start in range(0, len(users), 5000):
            uow.session.execute(
                insert(OutboxMessage),
                [
                    {
                        "customer_id": customer_of[address],
                        "address": address,
                        "channel": "line",
                        "category": "marketing",
                        "messages": (
                            [{"type": "text", "text": f"{index}さん、いつもありがとう"}]
                            if campaign == "pushes"
                            else SALE
                        ),
                        "retry_key": str(uuid.uuid4()),
                        "dedupe_key": f"bench:{campaign}:{index}",
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                    }
                    for index, address in enumerate(users[start : start + 5000], start=start)
                ],
            )
        uow.commit()
    engine.dispose()


def deliver(args, base_url: str, campaign: str) -> float:
    """Run the dispatcher processes until the outbox is empty; returns seconds."""
    env = {
        **os.environ,
        "KIZUNA_DATABASE_URL": args.database_url,
        "LINE_API_BASE_URL": base_url,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "KIZUNA_QUIET_HOURS": "off",
        "KIZUNA_LINE_PUSH_RATE": str(args.push_rate),
        "KIZUNA_LINE_MULTICAST_RATE": str(args.multicast_rate),
        "KIZUNA_DELIVERY_THREADS": str(args.threads),
    }
    started = time.perf_counter()
    profile = ["-m", "cProfile", "-o", f"{args.profile}.{campaign}"] if args.profile else []
    argv = [sys.executable, *profile, "-m", "bot.cli", "outbox", "deliver", "--until-done"]
    processes = [
        subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        for _ in range(args.processes)
    ]
    try:
        for process in processes:
            left = max(1.0, args.max_seconds - (time.perf_counter() - started))
            _, errors = process.communicate(timeout=left)
            if process.returncode != 0:
                raise BenchError(f"a dispatcher exited {process.returncode}: {errors.decode()[-2000:]}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return time.perf_counter() - started


def report(args, campaign: str, stats: dict, users: list[str], seconds: float) -> bool:
    requests = stats["requests"]
    limits = {"push": args.push_rate, "multicast": args.multicast_rate}
    ok = True
    print(
        f"\n{campaign}: {len(users):,} customers delivered in {seconds:.1f} s, process start included "
        f"({len(users) / seconds:,.0f} messages/s) by {args.processes} process(es) x {args.threads} threads"
    )
    print(
        f"{'endpoint':<10} {'requests':>9} {'limit/s':>8} {'achieved/s':>11} {'share':>6} "
        f"{'recipients/req':>15} {'429s':>5} {'429s after warm-up':>19}"
    )
    for endpoint, limit in limits.items():
        mine = [r for r in requests if r[0] == endpoint]
        if not mine:
            continue
        accepted = [r for r in mine if r[1] in (200, 409)]
        first, last = min(r[2] for r in mine), max(r[2] for r in mine)
        span = max(last - first, 1e-9)
        rate = (len(mine) - 1) / span if len(mine) > 1 else 0.0
        too_fast = [r for r in mine if r[1] == 429]
        late = [r for r in too_fast if r[2] - first > WARM_UP]
        per_request = sum(r[3] for r in accepted) / max(1, len(accepted))
        share = rate / limit
        print(
            f"{endpoint:<10} {len(mine):>9,} {limit:>8g} {rate:>11,.1f} {share:>6.0%} "
            f"{per_request:>15,.1f} {len(too_fast):>5} {len(late):>19}"
        )
        ok &= not late
        if len(mine) >= 5 * limit * WARM_UP:  # long enough to judge the pace
            ok &= share >= 0.9
    received = stats["received"]
    duplicates = sum(1 for user in users if received.get(user, 0) > 1)
    losses = sum(1 for user in users if received.get(user, 0) == 0)
    sends = [r for r in requests if r[0] in limits and r[1] in (200, 409)]
    total = sum(r[3] for r in sends) / max(1, len(sends))
    print(f"recipients per request (all endpoints) {total:,.1f}; duplicates {duplicates}; losses {losses}")
    return ok and not duplicates and not losses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--customers", type=int, default=30_000, help="the sale goes to all of them")
    parser.add_argument("--pushes", type=int, default=2_000, help="customers who get a personal note first")
    parser.add_argument("--push-rate", type=float, default=100.0)
    parser.add_argument("--multicast-rate", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--profile", help="write each dispatcher's cProfile figures to PROFILE.<campaign>")
    args = parser.parse_args()

    reset_database(args.database_url)
    users = ["U" + uuid.uuid4().hex for _ in range(args.customers)]
    seeded = seed(args.database_url, users)
    print(f"{len(users):,} customers seeded in {seeded:.1f} s")
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    emulator = context.Process(
        target=_emulator_main, args=(child, users, args.push_rate, args.multicast_rate), daemon=True
    )
    emulator.start()
    try:
        base_url = parent.recv()
        ok = True
        for campaign, audience in (("pushes", users[: args.pushes]), ("multicast", users)):
            parent.send("reset")
            parent.recv()
            queue(args.database_url, audience, campaign)
            seconds = deliver(args, base_url, campaign)
            parent.send("stats")
            ok &= report(args, campaign, parent.recv(), audience, seconds)
    finally:
        parent.send("stop")
        emulator.join(timeout=10)
        if emulator.is_alive():
            emulator.kill()
    print("aims met" if ok else "AIMS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
