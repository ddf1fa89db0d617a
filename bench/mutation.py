"""A small mutation runner: plant one mistake at a time in a module and see whether its tests notice.

    .venv/bin/python bench/mutation.py bot/webhook.py bot/delivery.py
    .venv/bin/python bench/mutation.py bot/webhook.py --tests tests/integration/webhook/test_callback.py

For each module it parses the source, lists every mutation of the operators below, writes each mutant
in place of the module (one at a time), runs the module's FAST test selection (TESTS) with `-x -q`
and counts it killed (the tests failed) or survived. The selection first runs once unmutated under a
line tracer (sys.settrace, in the test process only); a mutant on a line it never executes is counted
survived without running the tests ("never executed": the selection cannot notice it; `--run-all`
runs them anyway, e.g. when the module's code runs in a subprocess). Each mutant's run is a fork of
the runner with the heavy libraries already imported (half the CPU of a fresh interpreter); `--recheck`
reruns only the survivors an earlier run printed, for the figure after new tests. The original
source is written back whatever happens (try/finally, Ctrl+C included), and the runner refuses to
start while git reports changes to a module it would mutate. No dependencies beyond the standard
library and the project's pytest.

Operators: comparison flips (< <=, > >=, == !=, `is None` <-> `is not None`), `and`/`or`, True/False,
integer constants +1 and -1, a call statement removed, a `return` value replaced by None, `+` <-> `-`
(binary and augmented, not on string or list literals), `min` <-> `max`, `not x` -> `x`,
`.startswith` <-> `.endswith`, `x.strip()` (also lstrip, rstrip, lower, upper, casefold) -> `x`, and a
slice bound dropped (`[a:b]` -> `[:b]`, `[a:]`). Not run in CI (minutes per module).
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> the fast tests that should catch a mistake in it
TESTS: dict[str, list[str]] = {
    "bot/webhook.py": [
        "tests/integration/webhook/test_callback.py",
        "tests/integration/webhook/test_signature.py",
        "tests/integration/webhook/test_odd_bodies.py",
        "tests/integration/webhook/test_database_faults.py",  # PostgreSQL only: run with KIZUNA_TEST_DATABASE_URL
        "tests/integration/webhook/test_callback_store_retry.py",  # PostgreSQL only too
        # the production web process only stores: it must not process (kills `lanes or process_events`)
        "tests/integration/webhook/test_event_processing.py::test_an_event_already_done_is_not_processed_again",
    ],
    "bot/delivery.py": [
        "tests/integration/dispatch/test_rounds.py",
        "tests/integration/webhook/test_delivery.py",
        "tests/integration/webhook/test_delivery_guards.py",
        "tests/integration/webhook/test_delivery_schedule.py",
        "tests/integration/webhook/test_callback.py",
        "tests/integration/dispatch/test_dispatcher.py",
        "tests/integration/dispatch/test_pacing.py",
    ],
    "bot/event_pump.py": [
        "tests/integration/webhook/test_event_processing.py",
        "tests/integration/webhook/test_callback.py",
        "tests/integration/webhook/test_database_faults.py",
        "tests/integration/webhook/test_event_worker.py",
        "tests/integration/webhook/test_event_records.py",
        "tests/integration/webhook/test_event_failures.py",  # three tests PostgreSQL only
        "tests/integration/webhook/test_pump_lifecycle.py",
        "tests/integration/webhook/test_pump_stopping.py",
        # the in-process lease tests (the others run workers as subprocesses, a minute each)
        "tests/integration/webhook/test_lane_leases.py::test_a_worker_keeps_renewing_its_lease_so_nobody_takes_the_lane_while_it_works",
        "tests/integration/webhook/test_lane_leases.py::test_a_worker_renews_only_the_leases_of_lanes_still_in_hand",
        "tests/integration/webhook/test_lane_leases.py::test_shutdown_finishes_the_event_in_hand_releases_the_lane_and_takes_no_more",
    ],
    "crm_core/points/balances.py": [
        "tests/integration/points/test_boundaries.py",
        "tests/integration/points/test_ledger.py",
        "tests/integration/points/test_history_edges.py",
    ],
    "crm_core/points/bulk.py": [
        "tests/integration/points/test_grant_many.py",
        "tests/integration/points/test_ledger.py",
        "tests/integration/imports/test_imports.py",
    ],
    "crm_core/points/ledger.py": [
        "tests/integration/points/test_history_edges.py",
        "tests/integration/points/test_ledger.py",
        "tests/integration/points/test_boundaries.py",
        "tests/integration/points/test_refunds.py",
        "tests/integration/points/test_undo_in_any_order.py",
        "tests/integration/points/test_ledger_edges.py",
        "tests/integration/points/test_returns_and_debts.py",
        "tests/integration/points/test_lock_waits.py",  # PostgreSQL only: run with KIZUNA_TEST_DATABASE_URL
    ],
    "crm_core/purchases.py": [  # the service's own tests first: with -x a mutant they catch stops sooner
        "tests/integration/points/test_refunds.py",
        "tests/integration/points/test_purchase_edges.py",
        "tests/integration/api/test_purchases.py",
        "tests/integration/api/test_points_payments.py",
        "tests/integration/points/test_lock_waits.py",  # PostgreSQL only: run with KIZUNA_TEST_DATABASE_URL
    ],
    "crm_core/cards.py": ["tests/unit/crm_core/test_cards.py"],
    # not tests/e2e/test_membership_on_line.py: ~60 s a survivor, and it killed none of test_membership's survivors
    "crm_core/membership.py": ["tests/integration/customers/test_membership.py"],
    "crm_core/staff.py": [
        "tests/integration/console/test_staff_rules.py",
        "tests/integration/cli/test_accounts_cli.py",
    ],
    "crm_core/events.py": [
        # run on PostgreSQL too (KIZUNA_TEST_DATABASE_URL): store_events' pg_notify statement runs only there
        "tests/integration/webhook/test_event_store.py",
        "tests/integration/webhook/test_event_processing.py",
    ],
    "crm_core/segments.py": [
        "tests/integration/segments/test_segments.py",
        "tests/integration/segments/test_segment_limits.py",
    ],
    "crm_core/flows.py": ["tests/integration/flows/test_coupon_flows.py", "tests/integration/flows/test_flow_rules.py"],
    "crm_core/reservations/bookings.py": [
        "tests/integration/reservations",
        "tests/integration/automations/test_booking_reminders.py",
    ],
    "crm_core/reservations/availability.py": ["tests/integration/reservations"],
    "crm_core/reservations/places.py": ["tests/integration/reservations"],
    "crm_core/outbox.py": [
        "tests/integration/webhook/test_outbox_rules.py",
        "tests/integration/webhook/test_delivery.py",
    ],
}

_FLIPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_SYMBOLS = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_SWAPPED_CALLS = {"min": "max", "max": "min"}  # f(...) -> g(...)
_SWAPPED_METHODS = {"startswith": "endswith", "endswith": "startswith"}  # x.f(...) -> x.g(...)
_DROPPED_METHODS = {"strip", "lstrip", "rstrip", "lower", "upper", "casefold"}  # x.f(...) -> x
_SLICE_BOUNDS = ("lower", "upper", "step")


@dataclass(frozen=True)
class Mutation:
    index: int  # the node's position in ast.walk order, stable for one source
    line: int
    description: str
    variant: int = 0  # which of a node's mutations (a comparison's n-th operator, +1 or -1, a slice bound)
    lines: frozenset[int] = frozenset()  # lines whose execution means the mutated code ran


def mutations_of(tree: ast.Module) -> list[Mutation]:
    """Every mutation the operators allow in the module, in source order."""
    found = []
    statement_of = _statements(tree)
    for index, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        for variant, description in _mutations_of_node(node):
            lines = _lines_of(node, statement_of.get(node))
            found.append(Mutation(index, line, description, variant, lines))
    return sorted(found, key=lambda m: (m.line, m.index, m.variant))


def _mutations_of_node(node: ast.AST) -> list[tuple[int, str]]:
    """(variant, description) for each mutation of this one node."""
    if isinstance(node, ast.Compare):
        return [
            (n, f"{_SYMBOLS[type(op)]} -> {_SYMBOLS[_FLIPS[type(op)]]}")
            for n, op in enumerate(node.ops)
            if type(op) in _FLIPS
        ]
    if isinstance(node, ast.BoolOp):
        return [(0, "and -> or" if isinstance(node.op, ast.And) else "or -> and")]
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return [(0, f"{node.value} -> {not node.value}")]
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [(1, f"{node.value} -> {node.value + 1}"), (-1, f"{node.value} -> {node.value - 1}")]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return [(0, f"call removed: {ast.unparse(node.value)[:60]}")]
    if isinstance(node, ast.Return) and node.value is not None and not _returns_none(node):
        return [(0, f"return {ast.unparse(node.value)[:50]} -> return None")]
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, (ast.Add, ast.Sub)):
        operands = [node.left, node.right] if isinstance(node, ast.BinOp) else [node.target, node.value]
        if not any(_concatenated(o) for o in operands):
            return [(0, f"{ast.unparse(node)[:50]}: + <-> -")]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return [(0, f"not {ast.unparse(node.operand)[:50]} -> {ast.unparse(node.operand)[:50]}")]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SWAPPED_CALLS:
        return [(0, f"{node.func.id}(...) -> {_SWAPPED_CALLS[node.func.id]}(...)")]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in _SWAPPED_METHODS:
            return [(0, f".{node.func.attr}(...) -> .{_SWAPPED_METHODS[node.func.attr]}(...)")]
        if node.func.attr in _DROPPED_METHODS:
            return [(0, f"{ast.unparse(node)[:50]} -> {ast.unparse(node.func.value)[:50]}")]
    if isinstance(node, ast.Slice):
        return [
            (n, f"slice {bound} {ast.unparse(getattr(node, bound))[:40]} dropped")
            for n, bound in enumerate(_SLICE_BOUNDS)
            if getattr(node, bound) is not None
        ]
    return []


def _concatenated(node: ast.AST) -> bool:
    """Whether `+` on this operand joins strings or sequences rather than adding numbers."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    return isinstance(node, (ast.JoinedStr, ast.List, ast.Tuple, ast.ListComp))


def _returns_none(node: ast.Return) -> bool:
    return isinstance(node.value, ast.Constant) and node.value.value is None


def _statements(tree: ast.Module) -> dict[ast.AST, ast.stmt]:
    """Each node -> the innermost statement holding it."""
    result: dict[ast.AST, ast.stmt] = {}

    def visit(node: ast.AST, statement: ast.stmt | None) -> None:
        if isinstance(node, ast.stmt):
            statement = node
        if statement is not None:
            result[node] = statement
        for child in ast.iter_child_nodes(node):
            visit(child, statement)

    visit(tree, None)
    return result


def _lines_of(node: ast.AST, statement: ast.stmt | None) -> frozenset[int]:
    """The node's own lines and its statement's head (a constant folded into the statement has no line of its own)."""
    lines = set(range(getattr(node, "lineno", 0), getattr(node, "end_lineno", 0) + 1))
    if statement is not None:
        first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        body = getattr(statement, "body", None)
        last = body[0].lineno - 1 if isinstance(body, list) and body else statement.end_lineno or statement.lineno
        lines.update(range(first, max(first, last) + 1))
    return frozenset(lines)


def mutant_source(tree: ast.Module, mutation: Mutation) -> str:
    """The module's source with the one mutation applied."""
    tree = copy.deepcopy(tree)
    node = list(ast.walk(tree))[mutation.index]
    if isinstance(node, ast.Compare):
        node.ops[mutation.variant] = _FLIPS[type(node.ops[mutation.variant])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant):
        node.value += mutation.variant
    elif isinstance(node, ast.Expr):
        node.value = ast.Constant(value=None)  # the statement stays (a block is never left empty)
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(value=None)
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
    elif isinstance(node, ast.UnaryOp):
        _replace(tree, node, node.operand)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        node.func.id = _SWAPPED_CALLS[node.func.id]
    elif isinstance(node, ast.Call) and node.func.attr in _SWAPPED_METHODS:
        node.func.attr = _SWAPPED_METHODS[node.func.attr]
    elif isinstance(node, ast.Call):
        _replace(tree, node, node.func.value)
    elif isinstance(node, ast.Slice):
        setattr(node, _SLICE_BOUNDS[mutation.variant], None)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _replace(tree: ast.Module, old: ast.AST, new: ast.AST) -> None:
    """Put `new` where `old` is in the tree."""
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                value[[id(item) for item in value].index(id(old))] = new
                return
    raise ValueError("node not in tree")


def _dirty(paths: list[str]) -> list[str]:
    result = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [line[3:] for line in result.stdout.splitlines()]


def _forget_bytecode(path: Path) -> None:
    """Drop the module's cached bytecode, which may have been compiled from another mutant in the same second."""
    Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)


_PYTEST_ARGS = ["-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
# Libraries the tests import, loaded once in the runner so that each mutant's forked test run starts faster.
# Never the project's own modules (each run must import the mutant and SQLModel's tables afresh) nor pytest plugins.
_PRELOAD = ("pytest", "sqlalchemy", "sqlmodel", "flask", "jinja2", "babel", "linebot.v3.messaging")


def _tests_pass(tests: list[str], timeout: float) -> bool | None:
    """True when the selection passed, False when it failed, None when it ran past the timeout (killed too)."""
    if not hasattr(os, "fork"):
        return _tests_pass_in_subprocess(tests, timeout)
    for name in _PRELOAD:
        importlib.import_module(name)
    pid = os.fork()
    if pid == 0:  # the child: a fresh pytest run in the repository, output dropped
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.chdir(ROOT)
            sys.path.insert(0, str(ROOT))
            sys.dont_write_bytecode = True
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            import pytest

            code = int(pytest.main([*_PYTEST_ARGS, *tests]))
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) == 0
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    except BaseException:  # stopped: the child goes too, then the module is written back
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def _tests_pass_in_subprocess(tests: list[str], timeout: float) -> bool | None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", *_PYTEST_ARGS, *tests]
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    return result.returncode == 0


# Runs the selection once with a line tracer on the one module: argv = module path, output file, pytest arguments.
_TRACER = """
import json, os, sys, threading
target, out, arguments = os.path.realpath(sys.argv[1]), sys.argv[2], sys.argv[3:]
lines, seen = set(), {}

def local(frame, event, arg):
    lines.add(frame.f_lineno)
    return local

def trace(frame, event, arg):
    name = frame.f_code.co_filename
    if name not in seen:
        seen[name] = os.path.realpath(name) == target
    if seen[name]:
        lines.add(frame.f_lineno)
        return local
    return None

# a trace function that raises (a RecursionError a test provokes on purpose) is unset for good: set it again
# before each test (lines run after the error within that same test stay unseen: --run-all for them)
class Retrace:
    def pytest_runtest_setup(self, item):
        sys.settrace(trace)

    def pytest_runtest_call(self, item):
        sys.settrace(trace)

    def pytest_runtest_teardown(self, item):
        sys.settrace(trace)

sys.settrace(trace)
threading.settrace(trace)
import pytest
code = pytest.main(arguments, plugins=[Retrace()])
sys.settrace(None)
with open(out, "w") as file:
    json.dump(sorted(lines), file)
sys.exit(code)
"""


def _executed_lines(path: Path, tests: list[str], timeout: float) -> set[int] | None:
    """The module's lines the unmutated selection executes (None when that run failed)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "lines.json"
        arguments = [*_PYTEST_ARGS, *tests]
        command = [sys.executable, "-c", _TRACER, str(path), str(out), *arguments]
        try:
            result = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=timeout * 3, check=False)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0 or not out.exists():
            return None
        return set(json.loads(out.read_text()))


def run_module(
    module: str,
    tests: list[str],
    *,
    timeout: float,
    run_all: bool = False,
    only: dict | None = None,
    span: tuple[int, int] | None = None,
) -> tuple[int, list[tuple[Mutation, str]]]:
    """Mutate `module` one mutation at a time; returns (killed, survivors).

    `only`: an earlier run's outcomes, (module, description) -> ["killed"/"survived", ...]: its survivors
    run again, its killed count killed without running (tests added never revive a mutant), and mutants
    it never reached (a run stopped early) are left out of the figures. `span`: (first, last) numbers of
    the mutants to run, the rest left out of the figures (a long module run in parts).
    """
    path = ROOT / module
    original = path.read_bytes()
    tree = ast.parse(original, filename=module)
    found = mutations_of(tree)
    executed = None if run_all else _executed_lines(path, tests, timeout)
    killed, survivors = 0, []
    print(f"{module}: {len(found)} mutants, tests: {' '.join(tests)}", flush=True)
    if not run_all and executed is None:
        print("  (the traced run failed: every mutant is run)", flush=True)
    try:
        for number, mutation in enumerate(found, 1):
            if span is not None and not span[0] <= number <= span[1]:
                continue
            if only is not None:
                earlier = only.get((module, mutation.description)) or ["not reached"]
                outcome = earlier.pop(0)
                if outcome == "killed":
                    killed += 1
                    where = f"{module}:{mutation.line} {mutation.description}"
                    print(f"  [{number}/{len(found)}] {where}: killed (in the earlier run)", flush=True)
                if outcome != "survived":
                    continue
            if executed is not None and not (mutation.lines & executed):
                survivors.append((mutation, "never executed"))
                where = f"{module}:{mutation.line} {mutation.description}"
                print(f"  [{number}/{len(found)}] {where}: SURVIVED (never executed)", flush=True)
                continue
            path.write_text(mutant_source(tree, mutation), encoding="utf-8")
            _forget_bytecode(path)
            outcome = _tests_pass(tests, timeout)
            if outcome:
                survivors.append((mutation, "survived"))
            else:
                killed += 1
            status = "SURVIVED" if outcome else ("killed (timeout)" if outcome is None else "killed")
            print(f"  [{number}/{len(found)}] {module}:{mutation.line} {mutation.description}: {status}", flush=True)
    finally:
        path.write_bytes(original)
        _forget_bytecode(path)
    return killed, survivors


def equivalent(source_lines: list[str], mutation: Mutation) -> bool:
    """Whether the source says this survivor is equivalent: `mutation-equivalent` on its line, or in the
    comment lines right above it (or above its statement's first line)."""
    first = min(line for line in mutation.lines | {mutation.line} if line > 0)
    for start in sorted({mutation.line, first}):
        if "mutation-equivalent" in source_lines[start - 1]:
            return True
        above = start - 2
        while above >= 0 and source_lines[above].lstrip().startswith("#"):
            if "mutation-equivalent" in source_lines[above]:
                return True
            above -= 1
    return False


def _span(text: str) -> tuple[int, int]:
    """ "147-277" -> (147, 277)."""
    matched = re.fullmatch(r"(\d+)-(\d+)", text)
    if not matched or int(matched[1]) > int(matched[2]):
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST, e.g. 147-277, not {text!r}")
    return int(matched[1]), int(matched[2])


def _outcomes_in(output: str) -> dict[tuple[str, str], list[str]]:
    """(module, description) -> "killed"/"survived" in order, from the progress lines of an earlier run's output."""
    found: dict[tuple[str, str], list[str]] = {}
    for line in output.splitlines():
        matched = re.fullmatch(r"\s+\[\d+/\d+\] (\S+?):\d+ (.*): (killed|SURVIVED).*", line)
        if matched:
            outcome = "killed" if matched[3] == "killed" else "survived"
            found.setdefault((matched[1], matched[2]), []).append(outcome)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="+", help="paths relative to the repository, e.g. bot/webhook.py")
    parser.add_argument("--tests", nargs="+", help="test paths to run instead of the module's selection in TESTS")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant's test run")
    parser.add_argument("--run-all", action="store_true", help="run the tests for mutants on never-executed lines too")
    parser.add_argument(
        "--recheck", type=Path, help="an earlier run's output: rerun its survivors, count its killed as killed"
    )
    parser.add_argument(
        "--mutants", type=_span, help="run only mutants FIRST-LAST of each module (numbered as the progress lines show)"
    )
    args = parser.parse_args(argv)
    # stopped by Ctrl+C or `kill` (a background job ignores SIGINT): unwind, so the module is written back
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    unknown = [m for m in args.modules if m not in TESTS and not args.tests]
    if unknown:
        parser.error(f"no test selection for {', '.join(unknown)}: add it to TESTS or pass --tests")
    dirty = _dirty(args.modules)
    if dirty:
        parser.error(f"commit or stash the changes to {', '.join(dirty)} first: mutants are written in place")
    if not _tests_pass_in_subprocess(sorted({t for m in args.modules for t in (args.tests or TESTS[m])}), args.timeout):
        parser.error("the test selection fails without any mutation: fix that first")

    only = _outcomes_in(args.recheck.read_text(encoding="utf-8")) if args.recheck else None
    started, table = time.monotonic(), []
    for module in args.modules:
        tests = [t for t in (args.tests or TESTS[module]) if (ROOT / t.split("::")[0]).exists()]  # files or node ids
        killed, survivors = run_module(
            module, tests, timeout=args.timeout, run_all=args.run_all, only=only, span=args.mutants
        )
        table.append((module, killed, survivors))

    # kill rate: killed / mutants; score: killed / (mutants - survivors the source explains as equivalent)
    print(f"\n{'module':<28} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'survived':>8} {'kill rate':>9} {'score':>6}")
    for module, killed, survivors in table:
        lines = (ROOT / module).read_text(encoding="utf-8").splitlines()
        explained = sum(equivalent(lines, mutation) for mutation, _ in survivors)
        total = killed + len(survivors)
        rate = f"{100 * killed / total:.0f} %" if total else "-"
        score = f"{100 * killed / (total - explained):.0f} %" if total > explained else "-"
        unexplained = len(survivors) - explained
        print(f"{module:<28} {total:>7} {killed:>7} {explained:>7} {unexplained:>8} {rate:>9} {score:>6}")
    for module, _, survivors in table:
        lines = (ROOT / module).read_text(encoding="utf-8").splitlines()
        for mutation, why in survivors:
            note = " (never executed)" if why == "never executed" else ""
            note += " (equivalent)" if equivalent(lines, mutation) else ""
            print(f"survivor {module}:{mutation.line}  {mutation.description}{note}")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
