"""Till benchmark: scan-to-credit latency with 20 concurrent tills against `kizuna serve` on PostgreSQL.

Each till is its own process (a `requests.Session`, like one tablet at one counter), logged in as its
own staff member, working for one of the demo shop's stores. A sale is what the staff do for a
customer at the counter:

    scan   POST /console/till/scan   the code the customer's phone shows (a fresh KZC... card code)
    page   GET  /console/till/customer?t=<ticket>   the customer's screen with the sale form
    sale   POST /console/till/sale   ticket, the form's idempotency key, a random total
    credit GET  the page the sale redirects to, which shows "Recorded ...: N points earned"

scan-to-credit is the time from sending the scan to having read the page that shows the credit.

    .venv/bin/python bench/till.py                 # PostgreSQL kizuna_bench_till on 127.0.0.1:5432
    .venv/bin/python bench/till.py --tills 20 --sales 50 --think-ms 0 --max-seconds 180

The database is dropped and recreated (its name must contain "bench"), seeded with the demo shop
(`crm_core.demo.seed`) and one staff account per till. Every subprocess is stopped on exit, Ctrl+C or
error; the whole run is bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import re
import secrets
import signal
import sys
import tempfile
import time
from array import array
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from webhook import (  # noqa: E402  (bench/ is not a package)
    BenchError,
    Processes,
    _machine_jiffies,
    _tree_cpu_seconds,
    free_port,
    guard_runtime,
    reset_database,
    wait_healthy,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench_till"
AIM_P99_MS = 50.0
STAFF_PASSWORD = "bench-till-2026"  # noqa: S105  (accounts of a throw-away bench database)
STEPS = ("scan", "page", "sale", "credit")
CLK_TCK = os.sysconf("SC_CLK_TCK")

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TICKET = re.compile(r'name="ticket" value="([^"]+)"')
_KEY = re.compile(r'name="key" value="([0-9a-f]{32})"')
_FLASH = re.compile(r'<p class="flash info" role="status">([^<]*)</p>')
_BALANCE = re.compile(r'data-field="points_available"[^>]*>(\d+)<')


# --- the LINE emulator, in its own process (receipts of LINE-linked customers go there) ----------------


def _emulator_main(conn, channel_secret: str, access_token: str, latency: float, users: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    from bot.simulator import EmulatorServer

    server = EmulatorServer(channel_secret=channel_secret, channel_access_token=access_token)
    emulator = server.emulator
    emulator.latency_seconds = latency
    user_ids = [emulator.add_user(f"ベンチ{i:03d}") for i in range(users)]
    for user_id in user_ids:
        emulator.follow(user_id)  # friends of the bot (the webhook event itself is not sent)
    conn.send((server.base_url, user_ids))
    try:
        while True:
            command = conn.recv()
            if command == "stats":
                with emulator._lock:
                    counts: dict[str, int] = {}
                    for record in emulator.requests:
                        key = f"{record.path.rsplit('/', 1)[-1]} {record.status}"
                        counts[key] = counts.get(key, 0) + 1
                conn.send(counts)
            elif command == "stop":
                break
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        server.close()


# --- one till: its own process and HTTP session ----------------------------------------------------------


class TillError(Exception):
    """A sale that went wrong; the message is its kind, counted in the report."""


def _till_main(conn, base: str, email: str, store_id: int, secret: str, customer_ids, plan: dict) -> None:
    """Log in, choose the store, then sell until `plan["sales"]` are done or the deadline passes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from datetime import UTC, datetime

    import requests

    from crm_core import cards

    rng = random.Random(plan["seed"])
    http = requests.Session()
    http.headers["Accept-Language"] = "ja"
    timeout = plan["timeout"]

    def csrf_of(text: str) -> str:
        found = _CSRF.search(text)
        if not found:
            raise TillError("no csrf token")
        return found.group(1)

    def get(path: str) -> requests.Response:
        response = http.get(base + path, timeout=timeout, allow_redirects=False)
        if response.status_code != 200:
            raise TillError(f"GET {path.split('?')[0]} {response.status_code}")
        return response

    def post(path: str, data: dict) -> requests.Response:
        response = http.post(base + path, data=data, timeout=timeout, allow_redirects=False)
        if response.status_code != 302:
            raise TillError(f"POST {path} {response.status_code}")
        return response

    try:
        csrf = csrf_of(get("/console/login").text)
        post("/console/login", {"csrf_token": csrf, "email": email, "password": STAFF_PASSWORD})
        csrf = csrf_of(get("/console/till").text)
        post("/console/till/store", {"csrf_token": csrf, "store_id": str(store_id)})
        csrf = csrf_of(get("/console/till").text)
    except (TillError, requests.RequestException) as error:
        conn.send(f"login failed: {error}")
        return

    def sell(csrf: str) -> tuple[str, tuple[float, ...]]:
        """One sale: scan a fresh card code, open the customer, record the sale, read the credit."""
        customer_id = rng.choice(customer_ids)
        code = cards.issue(secret=secret, purpose=cards.CARD, customer_id=customer_id, now=datetime.now(UTC))
        t0 = time.perf_counter()
        scanned = post("/console/till/scan", {"csrf_token": csrf, "code": code})
        t1 = time.perf_counter()
        page = get(scanned.headers["Location"].removeprefix(base)).text
        t2 = time.perf_counter()
        ticket, key = _TICKET.search(page), _KEY.search(page)
        if not ticket or not key:
            raise TillError("no ticket or key on the customer page")
        form = {"csrf_token": csrf_of(page), "ticket": ticket.group(1), "key": key.group(1)}
        form["total"] = f"{rng.randint(300, 9000):,}"
        sold = post("/console/till/sale", form)
        t3 = time.perf_counter()
        answer = get(sold.headers["Location"].removeprefix(base)).text
        t4 = time.perf_counter()
        flash = _FLASH.search(answer)
        if not flash or not _BALANCE.search(answer):
            raise TillError("the answer shows no credit")
        return csrf_of(answer), (t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3)

    try:  # warm-up, not counted: every page rendered once by this till (templates, caches, prepared statements)
        for _ in range(plan["warmup"]):
            csrf, _times = sell(csrf)
    except (TillError, requests.RequestException) as error:
        conn.send(f"warm-up failed: {error}")
        return
    conn.send("ready")
    deadline = conn.recv()

    times = {name: array("d") for name in ("total", *STEPS)}
    errors: dict[str, int] = {}
    credited = 0
    first = time.time()
    for _ in range(plan["sales"]):
        if time.time() > deadline:
            errors["not sent: deadline"] = errors.get("not sent: deadline", 0) + 1
            continue
        try:
            csrf, measured = sell(csrf)
        except TillError as error:
            errors[str(error)] = errors.get(str(error), 0) + 1
            with contextlib.suppress(TillError, requests.RequestException):
                csrf = csrf_of(get("/console/till").text)
            continue
        except requests.RequestException as error:
            kind = type(error).__name__
            errors[kind] = errors.get(kind, 0) + 1
            continue
        credited += 1
        for name, value in zip(("total", *STEPS), measured, strict=True):
            times[name].append(value)
        if plan["think"]:
            time.sleep(rng.uniform(0.5, 1.5) * plan["think"])
    with contextlib.suppress(OSError):  # the parent is gone (Ctrl+C): nobody to tell
        conn.send({"times": times, "errors": errors, "credited": credited, "first": first, "last": time.time()})


def _postgres_cpu_seconds(database: str) -> float:
    """CPU time of the live PostgreSQL backends connected to `database` (this run's server-side cost)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if not cmdline.startswith(b"postgres: ") or f" {database} ".encode() not in cmdline:
                continue
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


# --- the shop ------------------------------------------------------------------------------------------------


def seed_shop(url: str, *, tills: int, line_users: list[str], rng: random.Random) -> dict:
    """Demo shop + one staff account per till + LINE friends for some customers; returns ids for the tills."""
    from sqlmodel import select

    from crm_core import demo, staff
    from crm_core.customers import LINE
    from crm_core.db import make_engine, make_session_factory
    from crm_core.models import ChannelIdentity, Customer, Store
    from crm_core.uow import UnitOfWorkFactory

    engine = make_engine(url, pool_size=1)
    try:
        factory = UnitOfWorkFactory(make_session_factory(engine))
        with factory() as uow:
            added = demo.seed(uow=uow)
            emails = [f"till{i + 1:02d}@bench.example" for i in range(tills)]
            for index, email in enumerate(emails):
                staff.create_staff_user(
                    uow=uow, email=email, password=STAFF_PASSWORD, role="staff", display_name=f"レジ{index + 1}"
                )
            customer_ids = list(uow.session.exec(select(Customer.id).order_by(Customer.id)))
            store_ids = list(uow.session.exec(select(Store.id).order_by(Store.id)))
            now = uow.now()
            for customer_id, user_id in zip(rng.sample(customer_ids, len(line_users)), line_users, strict=False):
                uow.session.add(
                    ChannelIdentity(
                        channel=LINE,
                        address=user_id,
                        customer_id=customer_id,
                        language="ja",
                        followed=True,
                        consented_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
            uow.commit()
    finally:
        engine.dispose()
    return {"added": added, "emails": emails, "customers": customer_ids, "stores": store_ids}


_CHECK_SQL = {
    "purchases": "select count(*), coalesce(sum(points_earned), 0) from purchases where source = 'till'",
    "mismatches": """
        select count(*), coalesce(sum(abs(coalesce(a.balance, 0) - coalesce(l.total, 0))), 0)
        from customers c
        left join point_accounts a on a.customer_id = c.id
        left join (select customer_id, sum(amount) as total from point_entries group by customer_id) l
          on l.customer_id = c.id
        where coalesce(a.balance, 0) <> coalesce(l.total, 0)
    """,
    "customers": "select count(*) from customers",
    "outbox": "select status, count(*) from outbox group by status",
}


def check_database(url: str, *, wait_outbox_until: float) -> dict:
    """Purchases recorded by the tills and cached balance == ledger sum for every customer."""
    from sqlalchemy import text

    from crm_core.db import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            while True:  # receipts: give the event worker a moment, bounded
                outbox = dict(connection.execute(text(_CHECK_SQL["outbox"])).all())
                if not outbox.get("pending") or time.time() > wait_outbox_until:
                    break
                connection.rollback()
                time.sleep(0.2)
            purchases, earned = connection.execute(text(_CHECK_SQL["purchases"])).one()
            mismatched, difference = connection.execute(text(_CHECK_SQL["mismatches"])).one()
            customers = connection.execute(text(_CHECK_SQL["customers"])).scalar_one()
    finally:
        engine.dispose()
    return {
        "purchases": purchases,
        "earned": int(earned),
        "mismatched": mismatched,
        "difference": int(difference),
        "customers": customers,
        "outbox": outbox,
    }


# --- figures ----------------------------------------------------------------------------------------------------


def percentile(values, q: float) -> float:
    """The q-quantile (nearest rank) in milliseconds; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--tills", type=int, default=20, help="concurrent tills (one process and staff member each)")
    parser.add_argument("--sales", type=int, default=50, help="sales per till")
    parser.add_argument("--warmup", type=int, default=2, help="sales per till before measuring (not counted)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause between a till's sales (0: each till sells again at once, the heaviest load)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="Kizuna's database, DROPPED and recreated (name must contain 'bench')",
    )
    parser.add_argument("--line-users", type=int, default=100, help="demo customers who are LINE friends (receipts)")
    parser.add_argument("--line-latency", type=float, default=0.03, help="seconds each Messaging API call takes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a till waits for one answer")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed (customers, totals)")
    parser.add_argument("--max-seconds", type=float, default=180, help="hard limit for the whole run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = parser.parse_args(argv)
    if args.tills < 1 or args.sales < 1 or args.line_users < 0 or args.think_ms < 0:
        parser.error("--tills and --sales must be positive, --line-users and --think-ms not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.engine import make_url

    from crm_core.db import normalize_url

    args = parse_args(argv)
    began = time.time()
    hard_deadline = guard_runtime(args.max_seconds)

    ctx = multiprocessing.get_context("spawn")
    logdir = Path(tempfile.mkdtemp(prefix="kizuna-bench-till-"))
    procs = Processes(logdir)
    emulator_pipe = emulator_proc = None
    tills: list = []
    channel_secret, access_token, secret_key = secrets.token_hex(16), secrets.token_hex(32), secrets.token_hex(32)
    rng = random.Random(args.seed)
    try:
        load_before = os.getloadavg()
        print(
            f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average "
            f"{load_before[0]:.1f} {load_before[1]:.1f} {load_before[2]:.1f} before the run"
        )
        print(f"database {args.database_url}: reset + migrate + demo shop", flush=True)
        reset_database(args.database_url)

        emulator_pipe, child = ctx.Pipe()
        emulator_proc = ctx.Process(
            target=_emulator_main,
            args=(child, channel_secret, access_token, args.line_latency, args.line_users),
            daemon=True,
        )
        emulator_proc.start()
        child.close()
        if not emulator_pipe.poll(30):
            raise BenchError("the LINE emulator did not start")
        line_url, line_users = emulator_pipe.recv()
        shop = seed_shop(args.database_url, tills=args.tills, line_users=line_users, rng=rng)

        env = dict(os.environ)
        env.update(
            KIZUNA_DATABASE_URL=args.database_url,
            KIZUNA_SECRET_KEY=secret_key,
            LINE_CHANNEL_SECRET=channel_secret,
            LINE_CHANNEL_ACCESS_TOKEN=access_token,
            LINE_API_BASE_URL=line_url,
            PYTHONUNBUFFERED="1",
        )
        bin_dir = Path(sys.executable).parent
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv_ = [str(bin_dir / "kizuna")] if (bin_dir / "kizuna").exists() else [sys.executable, "-m", "bot.cli"]
        argv_ += ["serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)]
        kizuna = procs.start("kizuna", argv_, env, cwd=logdir)  # cwd: no stray .env is read
        wait_healthy(kizuna, port, min(hard_deadline, time.time() + 30), "kizuna", procs)
        print(
            f"demo shop: {len(shop['customers'])} customers ({len(line_users)} LINE friends), "
            f"{len(shop['stores'])} stores, {args.tills} staff; kizuna serve {base} "
            f"({args.workers} workers x {args.threads} threads); LINE emulator {line_url} "
            f"({args.line_latency * 1000:g} ms per call)",
            flush=True,
        )

        for index in range(args.tills):
            parent, child = ctx.Pipe()
            plan = {
                "sales": args.sales,
                "seed": args.seed + index + 1,
                "timeout": args.timeout,
                "think": args.think_ms / 1000,
                "warmup": args.warmup,
            }
            store_id = shop["stores"][index % len(shop["stores"])]
            proc = ctx.Process(
                target=_till_main,
                args=(child, base, shop["emails"][index], store_id, secret_key, shop["customers"], plan),
                daemon=True,
            )
            proc.start()
            child.close()
            tills.append((proc, parent))
        for _, pipe in tills:  # logins (argon2 on the server) are not measured
            if not pipe.poll(max(1.0, hard_deadline - time.time())):
                raise BenchError("a till did not log in in time")
            answer = pipe.recv()
            if answer != "ready":
                raise BenchError(f"a till: {answer}\n{procs.log_tail('kizuna')}")
        print(f"{args.tills} tills logged in, each chose its store; {args.sales} sales each", flush=True)

        deadline = hard_deadline - 15  # time left for the checks
        database = make_url(normalize_url(args.database_url)).database or ""
        till_pids = [proc.pid for proc, _ in tills]
        cpu0, pg0, machine0 = _tree_cpu_seconds(kizuna.pid), _postgres_cpu_seconds(database), _machine_jiffies()
        tills0 = _cpu_seconds(till_pids)
        started = time.time()
        for _, pipe in tills:
            pipe.send(deadline)
        results = []
        for _, pipe in tills:
            if not pipe.poll(max(1.0, deadline - time.time() + args.timeout + 5)):
                raise BenchError("a till did not finish")
            results.append(pipe.recv())
        ended = max(result["last"] for result in results)
        server_cpu = _tree_cpu_seconds(kizuna.pid) - cpu0
        postgres_cpu, machine1 = _postgres_cpu_seconds(database) - pg0, _machine_jiffies()
        tills_cpu = _cpu_seconds(till_pids) - tills0
        load_after = os.getloadavg()
        busy = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
        check = check_database(args.database_url, wait_outbox_until=min(hard_deadline - 3, time.time() + 10))
        emulator_pipe.send("stats")
        api_calls = emulator_pipe.recv() if emulator_pipe.poll(5) else {}

        # --- report ---
        times = {name: [x for result in results for x in result["times"][name]] for name in ("total", *STEPS)}
        errors: dict[str, int] = {}
        for result in results:
            for kind, count in result["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
        credited = sum(result["credited"] for result in results)
        elapsed = max(ended - started, 1e-9)
        print()
        print(f"tills {args.tills}, sales {credited} of {args.tills * args.sales}, errors {sum(errors.values())}")
        if errors:
            print(f"  errors: {dict(sorted(errors.items()))}")
        print(f"sales/s {credited / elapsed:.1f} ({elapsed:.1f} s, {4 * credited / elapsed:.0f} requests/s)")
        print()
        print(f"{'':<16}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        labels = {
            "total": "scan-to-credit",
            "scan": "  scan POST",
            "page": "  customer page",
            "sale": "  sale POST",
            "credit": "  credit page",
        }
        for name, label in labels.items():
            values = times[name]
            top = max(values) * 1000 if values else float("nan")
            print(f"{label:<16}{percentile(values, 0.5):>9.1f}{percentile(values, 0.99):>9.1f}{top:>9.1f}")
        p99 = percentile(times["total"], 0.99)
        met = p99 < AIM_P99_MS
        print()
        print(f"scan-to-credit p99 = {p99:.1f} ms (aim < {AIM_P99_MS:g} ms: {'MET' if met else 'MISSED'})")
        print(
            f"CPU seconds while selling: kizuna serve {server_cpu:.1f} "
            f"({server_cpu / max(credited, 1) * 1000:.0f} ms per sale), PostgreSQL backends of {database} "
            f"{postgres_cpu:.1f} ({postgres_cpu / max(credited, 1) * 1000:.0f} ms per sale), "
            f"tills {tills_cpu:.1f} ({tills_cpu / max(credited, 1) * 1000:.0f} ms per sale); "
            f"machine busy {busy:.0%} ({os.cpu_count()} cores); load average {load_after[0]:.1f} after"
        )
        purchases_ok = check["purchases"] == credited + args.warmup * args.tills
        balances_ok = check["mismatched"] == 0
        print(
            f"database check: till purchases {check['purchases']} == sales credited {credited} "
            f"+ warm-up {args.warmup * args.tills}: "
            f"{'ok' if purchases_ok else 'MISMATCH'}; cached balance == ledger sum for "
            f"{check['customers'] - check['mismatched']} of {check['customers']} customers: "
            f"{'ok' if balances_ok else 'MISMATCH (total difference ' + str(check['difference']) + ')'}; "
            f"{check['earned']} points earned at the tills"
        )
        print(f"receipts: outbox {check['outbox']}, Messaging API calls {dict(sorted(api_calls.items()))}")
        print(f"total {time.time() - began:.0f} s")
        return 0 if met and purchases_ok and balances_ok and not errors else 1
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; stopping every process", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        for proc, pipe in tills:
            with contextlib.suppress(OSError):
                pipe.close()
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        if emulator_pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                emulator_pipe.send("stop")
        procs.stop_all()
        if emulator_proc is not None:
            emulator_proc.join(timeout=5)
            if emulator_proc.is_alive():
                emulator_proc.kill()
        if args.keep_logs:
            print(f"server logs in {logdir}")
        else:
            for path in logdir.iterdir():
                path.unlink()
            logdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
