"""Webhook benchmark: `kizuna serve` against a bare signature-checking Flask endpoint, in one run.

Both targets get the same kind of signed LINE webhook bodies (one text-message event each, from one
of ~200 users who followed) over 16 concurrent keep-alive connections, from load-generator processes.
Kizuna replies to every event through a LINE emulator (own process, 30 ms per Messaging API call),
after the webhook has answered; the run also waits until every event was processed and replied to.

    .venv/bin/python bench/webhook.py                   # PostgreSQL kizuna_bench on 127.0.0.1:5432
    .venv/bin/python bench/webhook.py --database-url sqlite:////tmp/kizuna_bench.sqlite3

The database is dropped and recreated (its name must contain "bench"). Every subprocess is stopped
on exit, Ctrl+C or error; the whole run is bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kizuna_bench"
TEXTS = ("メニュー", "ポイント", "こんにちは", "予約したいです", "クーポン", "ありがとう", "会員証")
AIM_RATIO = 0.5
AIM_P99_MS = 25.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


# --- the LINE emulator, in its own process ------------------------------------------------------


def _emulator_main(conn, channel_secret: str, access_token: str, latency: float, users: int, seed: int) -> None:
    """Serve a LineEmulator and build signed webhook bodies on request (their reply tokens live here)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    from bot.simulator import EmulatorServer

    rng = random.Random(seed)
    server = EmulatorServer(channel_secret=channel_secret, channel_access_token=access_token)
    emulator = server.emulator
    emulator.latency_seconds = latency
    user_ids = [emulator.add_user(f"ベンチ{i:03d}") for i in range(users)]
    conn.send(server.base_url)

    def signed(events: list[dict]) -> list[tuple[bytes, str]]:
        bodies = [emulator.webhook_body([event]) for event in events]
        return [(body, emulator.signature(body)) for body in bodies]

    try:
        while True:
            command, arg = conn.recv()
            if command == "follow":
                conn.send(signed([emulator.follow(uid) for uid in user_ids]))
            elif command == "text":
                conn.send(signed([emulator.text(rng.choice(user_ids), rng.choice(TEXTS)) for _ in range(arg)]))
            elif command == "stats":
                with emulator._lock:
                    counts: dict[str, int] = {}
                    for record in emulator.requests:
                        kind = "profile" if "/profile/" in record.path else record.path.rsplit("/", 1)[-1]
                        key = f"{kind} {record.status}"
                        counts[key] = counts.get(key, 0) + 1
                conn.send(counts)
            elif command == "stop":
                break
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        server.close()


# --- load generation: processes x threads, one persistent raw HTTP/1.1 connection per thread ----------


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _exchange(sock: socket.socket, data: bytes) -> tuple[int, bool]:
    """Send one request; read the whole response. Returns (status, server wants to close)."""
    sock.sendall(data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        rest += chunk
    return status, close


def _loader_main(conn, port: int, slices: list[list[bytes]]) -> None:
    """One load-generator process: a thread per connection, each sending its own slice of requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    socks = [_connect(port) for _ in slices]
    conn.send("ready")
    deadline = conn.recv()  # wall-clock time after which nothing more is sent
    results: list[dict] = [None] * len(slices)  # type: ignore[list-item]

    def run(index: int) -> None:
        sock = socks[index]
        latencies = array("d")
        errors: dict[str, int] = {}
        first = last = time.time()
        for data in slices[index]:
            if time.time() > deadline:
                errors["deadline"] = errors.get("deadline", 0) + 1
                break
            started = time.perf_counter()
            try:
                status, close = _exchange(sock, data)
            except OSError as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                with contextlib.suppress(OSError):
                    sock.close()
                sock = _connect(port)
                continue
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
            if close:
                sock.close()
                sock = _connect(port)
        last = time.time()
        with contextlib.suppress(OSError):
            sock.close()
        results[index] = {"latencies": latencies, "errors": errors, "first": first, "last": last}

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(slices))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conn.send(results)


def _request_bytes(port: int, body: bytes, signature: str) -> bytes:
    head = (
        f"POST /callback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json; charset=utf-8\r\nUser-Agent: LineBotWebhook/2.0\r\n"
        f"X-Line-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def run_load(ctx, port: int, bodies: list[tuple[bytes, str]], *, connections: int, processes: int, deadline: float):
    """Send every body once over `connections` keep-alive connections; returns latencies and errors."""
    data = [_request_bytes(port, body, signature) for body, signature in bodies]
    per_conn = [data[i::connections] for i in range(connections)]
    processes = max(1, min(processes, connections))
    groups = [per_conn[i::processes] for i in range(processes)]
    pipes, procs = [], []
    try:
        for group in groups:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_loader_main, args=(child, port, group), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        for pipe in pipes:
            if not pipe.poll(max(1.0, deadline - time.time())) or pipe.recv() != "ready":
                raise BenchError("a load generator did not start")
        started = time.time()
        for pipe in pipes:
            pipe.send(deadline)
        threads = []
        for pipe in pipes:
            if not pipe.poll(max(1.0, deadline - time.time() + 15)):
                raise BenchError("a load generator did not finish")
            threads.extend(pipe.recv())
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    latencies = sorted(x for t in threads for x in t["latencies"])
    errors: dict[str, int] = {}
    for t in threads:
        for key, count in t["errors"].items():
            errors[key] = errors.get(key, 0) + count
    ended = max(t["last"] for t in threads)
    return {"latencies": latencies, "errors": errors, "started": started, "ended": ended}


# --- processes we start, and their CPU time -------------------------------------------------------------


class Processes:
    """Subprocesses of this run; `stop_all()` ends each one (and its own session) by pid."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.popen: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - kept open while the process runs
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.popen[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.popen.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.popen.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the session we created for it
                proc.wait(timeout=5)


def _tree_cpu_seconds(root: int) -> float:
    """utime+stime of `root` and its live descendants, from /proc."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo, seen = 0.0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _postgres_cpu_seconds() -> float:
    """CPU time of the live PostgreSQL processes on this machine (server-side cost of the run)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if stat.split("(", 1)[1].startswith("postgres)"):
                fields = stat.rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


# --- database ------------------------------------------------------------------------------------------


def reset_database(url: str) -> None:
    """Drop and recreate the bench database, then apply the project's migrations."""
    from sqlalchemy.engine import make_url

    from crm_core.db import normalize_url
    from crm_core.migrate import upgrade

    parsed = make_url(normalize_url(url))
    name = parsed.database or ""
    if "bench" not in Path(name).name:
        raise BenchError(f"refusing to reset {name!r}: the bench database's name must contain 'bench'")
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(name + suffix)
    elif parsed.get_backend_name() == "postgresql":
        import psycopg

        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    else:
        raise BenchError(f"unsupported database {parsed.get_backend_name()}")
    upgrade(url)


class Progress:
    """Counts of webhook events and outbox rows by status."""

    def __init__(self, url: str):
        from crm_core.db import make_engine

        self.engine = make_engine(url, pool_size=1)

    def counts(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            result = {f"event_{s}": n for s, n in connection.execute(text(_EVENTS_SQL))}
            result.update({f"outbox_{s}": n for s, n in connection.execute(text(_OUTBOX_SQL))})
        return result

    def wait_drained(self, deadline: float, interval: float = 0.05) -> tuple[float | None, dict[str, int]]:
        """Poll until no event and no outbox row is pending; returns (time.time() then, counts)."""
        while True:
            counts = self.counts()
            if not counts.get("event_pending") and not counts.get("outbox_pending"):
                return time.time(), counts
            if time.time() > deadline:
                return None, counts
            time.sleep(interval)


_EVENTS_SQL = "select status, count(*) from webhook_events group by status"
_OUTBOX_SQL = "select status, count(*) from outbox group by status"


# --- servers -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, port: int, deadline: float, name: str, procs: Processes) -> None:
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode}:\n{procs.log_tail(name)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"{name} did not become healthy:\n{procs.log_tail(name)}")


def summarize(name: str, sent: int, load: dict) -> dict:
    latencies = load["latencies"]
    errors = sum(load["errors"].values())
    elapsed = max(load["ended"] - load["started"], 1e-9)
    ok = len(latencies) - sum(v for k, v in load["errors"].items() if k.isdigit())

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "target": name,
        "requests": sent,
        "errors": errors,
        "error_kinds": load["errors"],
        "rate": ok / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "elapsed": elapsed,
    }


# --- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=4000, help="measured webhook requests per target")
    parser.add_argument("--warmup", type=int, default=300, help="uncounted requests per target before measuring")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--load-processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--users", type=int, default=200, help="LINE users (all followed) sending the events")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="Kizuna's database, DROPPED and recreated (name must contain 'bench'); sqlite:///path works too",
    )
    parser.add_argument("--line-latency", type=float, default=0.03, help="seconds each Messaging API call takes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both targets")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker, both targets")
    parser.add_argument("--max-seconds", type=float, default=120, help="hard limit for the whole run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (path printed)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.connections < 1 or args.users < 1:
        parser.error("--requests, --connections and --users must be positive")
    return args


def guard_runtime(max_seconds: float) -> float:
    """Stop the run (BenchError) after `max_seconds`, and on SIGTERM; returns the deadline."""

    def on_alarm(_signum, _frame):
        raise BenchError(f"--max-seconds {max_seconds:g} exceeded")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.alarm(int(max_seconds) + 1)
    return time.time() + max_seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.time()
    hard_deadline = guard_runtime(args.max_seconds)

    ctx = multiprocessing.get_context("spawn")
    logdir = Path(tempfile.mkdtemp(prefix="kizuna-bench-"))
    procs = Processes(logdir)
    emulator_pipe = emulator_proc = None
    secret, token = secrets.token_hex(16), secrets.token_hex(32)
    try:
        load1 = os.getloadavg()[0]
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average {load1:.1f} before the run")
        if load1 > 1.0:
            print("  warning: the machine is busy; figures will be lower and noisier than on an idle machine")
        print(f"database {args.database_url}: reset + migrate", flush=True)
        reset_database(args.database_url)
        progress = Progress(args.database_url)

        emulator_pipe, child = ctx.Pipe()
        emulator_proc = ctx.Process(
            target=_emulator_main,
            args=(child, secret, token, args.line_latency, args.users, 20260101),
            daemon=True,
        )
        emulator_proc.start()
        child.close()
        if not emulator_pipe.poll(30):
            raise BenchError("the LINE emulator did not start")
        line_url = emulator_pipe.recv()

        def ask(command: str, arg=None):
            emulator_pipe.send((command, arg))
            return emulator_pipe.recv()

        env = dict(os.environ)
        env.update(
            KIZUNA_DATABASE_URL=args.database_url,
            KIZUNA_SECRET_KEY=secrets.token_hex(32),
            LINE_CHANNEL_SECRET=secret,
            LINE_CHANNEL_ACCESS_TOKEN=token,
            LINE_API_BASE_URL=line_url,
            PYTHONUNBUFFERED="1",
        )
        bin_dir = Path(sys.executable).parent
        kizuna_port, bare_port = free_port(), free_port()
        kizuna_cmd = str(bin_dir / "kizuna") if (bin_dir / "kizuna").exists() else None
        kizuna_argv = [kizuna_cmd] if kizuna_cmd else [sys.executable, "-m", "bot.cli"]
        kizuna_argv += ["serve", "--port", str(kizuna_port)]  # with its scheduler + event worker process
        kizuna_argv += ["--workers", str(args.workers), "--threads", str(args.threads)]
        kizuna = procs.start("kizuna", kizuna_argv, env, cwd=logdir)  # cwd: no stray .env is read
        bare_argv = [sys.executable, "-m", "gunicorn", "--chdir", str(BENCH), "--bind", f"127.0.0.1:{bare_port}"]
        bare_argv += ["--worker-class", "gthread", "--workers", str(args.workers), "--threads", str(args.threads)]
        bare_argv += ["--timeout", "60", "--keep-alive", "30", "bare_webhook:app"]
        bare = procs.start("bare", bare_argv, env, cwd=logdir)
        wait_healthy(kizuna, kizuna_port, min(hard_deadline, time.time() + 30), "kizuna", procs)
        wait_healthy(bare, bare_port, min(hard_deadline, time.time() + 30), "bare", procs)
        print(
            f"LINE emulator {line_url} (latency {args.line_latency * 1000:g} ms, {args.users} users), "
            f"kizuna serve :{kizuna_port}, bare Flask :{bare_port}; "
            f"{args.connections} connections from {args.load_processes} processes",
            flush=True,
        )

        def load(port: int, bodies, phase_seconds: float):
            deadline = min(hard_deadline - 5, time.time() + phase_seconds)
            return run_load(
                ctx,
                port,
                bodies,
                connections=args.connections,
                processes=args.load_processes,
                deadline=deadline,
            )

        phase = max(10.0, args.max_seconds / 4)
        # warm-up, not counted: every user follows Kizuna (profile + greeting), then some messages
        load(kizuna_port, ask("follow"), phase)
        load(kizuna_port, ask("text", args.warmup), phase)
        drained, _ = progress.wait_drained(min(hard_deadline - 5, time.time() + phase))
        if drained is None:
            raise BenchError("Kizuna did not process the warm-up events in time")
        load(bare_port, ask("text", args.warmup), phase)

        # the baseline first, so Kizuna's after-the-answer work cannot slow it down
        bodies = ask("text", args.requests)
        cpu0 = _tree_cpu_seconds(bare.pid)
        bare_load = load(bare_port, bodies, phase)
        bare_cpu = _tree_cpu_seconds(bare.pid) - cpu0
        bare_result = summarize("bare Flask", len(bodies), bare_load)

        bodies = ask("text", args.requests)
        before = progress.counts()
        cpu0, emu0 = _tree_cpu_seconds(kizuna.pid), _tree_cpu_seconds(emulator_proc.pid)
        pg0, machine0 = _postgres_cpu_seconds(), _machine_jiffies()
        kizuna_load = load(kizuna_port, bodies, phase)
        at_end = progress.counts()
        kizuna_answer_cpu = _tree_cpu_seconds(kizuna.pid) - cpu0
        machine1 = _machine_jiffies()
        drained_at, after = progress.wait_drained(hard_deadline - 3)
        kizuna_cpu = _tree_cpu_seconds(kizuna.pid) - cpu0
        emulator_cpu = _tree_cpu_seconds(emulator_proc.pid) - emu0
        postgres_cpu = _postgres_cpu_seconds() - pg0
        machine2 = _machine_jiffies()
        busy_load = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
        busy_drain = (machine2[0] - machine1[0]) / max(1, machine2[1] - machine1[1])
        kizuna_result = summarize("kizuna serve", len(bodies), kizuna_load)
        api_calls = ask("stats")

        # --- report ---
        print()
        print(f"{'target':<14}{'requests':>9}{'errors':>8}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'srv CPU s':>10}")
        for result, cpu in ((bare_result, bare_cpu), (kizuna_result, kizuna_answer_cpu)):
            print(
                f"{result['target']:<14}{result['requests']:>9}{result['errors']:>8}{result['rate']:>10.0f}"
                f"{result['p50']:>9.1f}{result['p99']:>9.1f}{cpu:>10.1f}"
            )
            if result["errors"]:
                print(f"  errors: {result['error_kinds']}")
        ratio = kizuna_result["rate"] / bare_result["rate"]
        print()
        print(
            f"throughput kizuna/bare = {ratio:.2f}x (aim >= {AIM_RATIO}x: {'met' if ratio >= AIM_RATIO else 'MISSED'})"
        )
        p99_ok = kizuna_result["p99"] < AIM_P99_MS
        print(f"kizuna p99 = {kizuna_result['p99']:.1f} ms (aim < {AIM_P99_MS:g} ms: {'met' if p99_ok else 'MISSED'})")

        def delta(key: str) -> int:
            return after.get(key, 0) - before.get(key, 0)

        backlog, replies = at_end.get("event_pending", 0), at_end.get("outbox_pending", 0)
        print(f"kizuna backlog when the load ended: {backlog} events pending, {replies} replies pending")
        took = (drained_at or time.time()) - kizuna_load["started"]
        print(
            f"kizuna end to end: {delta('event_done')} events done, {delta('event_failed')} failed, "
            f"{delta('outbox_sent')} replies sent ({delta('outbox_failed')} failed) "
            f"{took:.1f} s after the first request = {delta('event_done') / took:.0f} events/s processed "
            f"(answered in {kizuna_result['elapsed']:.1f} s)"
        )
        if drained_at is None:
            print(f"kizuna did NOT drain before --max-seconds; still waiting: {after}")
        print(
            f"CPU seconds from kizuna's first request until drained: kizuna {kizuna_cpu:.1f}, "
            f"PostgreSQL (all backends) {postgres_cpu:.1f}, LINE emulator {emulator_cpu:.1f}; machine busy "
            f"{busy_load:.0%} while answering, {busy_drain:.0%} while draining ({os.cpu_count()} cores)"
        )
        print(f"Messaging API calls seen by the emulator (whole run): {dict(sorted(api_calls.items()))}")
        print(f"total {time.time() - began:.0f} s")
        met = ratio >= AIM_RATIO and p99_ok and drained_at is not None
        return 0 if met else 1
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 2
    finally:
        signal.alarm(0)
        if emulator_pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                emulator_pipe.send(("stop", None))
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
