"""A small mutation runner: plant one mistake at a time in a module and see whether its tests notice.

    .venv/bin/python bench/mutation.py bot/webhook.py bot/delivery.py
    .venv/bin/python bench/mutation.py bot/webhook.py --tests tests/integration/webhook/test_callback.py

For each module it parses the source, lists every mutation of the operators below, writes each mutant
in place of the module (one at a time), runs the module's FAST test selection (TESTS) with `-x -q`
and counts it killed (the tests failed) or survived. The original source is written back whatever
happens (try/finally, Ctrl+C included), and the runner refuses to start while git reports changes to
a module it would mutate. No dependencies beyond the standard library and the project's pytest.

Operators: comparison flips (< <=, > >=, == !=), `and`/`or`, True/False, integer constants +1 and -1,
a call statement removed, a `return` value replaced by None. Not run in CI (minutes per module).
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import os
import subprocess
import sys
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
    ],
    "bot/delivery.py": [
        "tests/integration/webhook/test_delivery.py",
        "tests/integration/webhook/test_delivery_guards.py",
        "tests/integration/webhook/test_callback.py",
    ],
    "bot/event_pump.py": [
        "tests/integration/webhook/test_event_processing.py",
        "tests/integration/webhook/test_callback.py",
        "tests/integration/webhook/test_database_faults.py",
        "tests/integration/webhook/test_event_worker.py",
    ],
}

_FLIPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}


@dataclass(frozen=True)
class Mutation:
    index: int  # the node's position in ast.walk order, stable for one source
    line: int
    description: str
    variant: int = 0  # which of a node's mutations (a comparison's n-th operator, +1 or -1)


def mutations_of(tree: ast.Module) -> list[Mutation]:
    """Every mutation the operators allow in the module, in source order."""
    found = []
    for index, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for n, op in enumerate(node.ops):
                if type(op) in _FLIPS:
                    flipped = _FLIPS[type(op)]
                    found.append(Mutation(index, line, f"{_symbol(op)} -> {_symbol(flipped())}", n))
        elif isinstance(node, ast.BoolOp):
            other = "or" if isinstance(node.op, ast.And) else "and"
            found.append(Mutation(index, line, f"{'and' if other == 'or' else 'or'} -> {other}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            found.append(Mutation(index, line, f"{node.value} -> {not node.value}"))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            found.append(Mutation(index, line, f"{node.value} -> {node.value + 1}", 1))
            found.append(Mutation(index, line, f"{node.value} -> {node.value - 1}", -1))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            found.append(Mutation(index, line, f"call removed: {ast.unparse(node.value)[:60]}"))
        elif isinstance(node, ast.Return) and node.value is not None and not _returns_none(node):
            found.append(Mutation(index, line, f"return {ast.unparse(node.value)[:50]} -> return None"))
    return sorted(found, key=lambda m: (m.line, m.index, m.variant))


def _returns_none(node: ast.Return) -> bool:
    return isinstance(node.value, ast.Constant) and node.value.value is None


def _symbol(op: ast.cmpop) -> str:
    return {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}[type(op)]


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
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _dirty(paths: list[str]) -> list[str]:
    result = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [line[3:] for line in result.stdout.splitlines()]


def _forget_bytecode(path: Path) -> None:
    """Drop the module's cached bytecode, which may have been compiled from another mutant in the same second."""
    Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)


def _tests_pass(tests: list[str], timeout: float) -> bool | None:
    """True when the selection passed, False when it failed, None when it ran past the timeout (killed too)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    return result.returncode == 0


def run_module(module: str, tests: list[str], *, timeout: float) -> tuple[int, list[tuple[Mutation, str]]]:
    """Mutate `module` one mutation at a time; returns (killed, survivors)."""
    path = ROOT / module
    original = path.read_bytes()
    tree = ast.parse(original, filename=module)
    found = mutations_of(tree)
    killed, survivors = 0, []
    print(f"{module}: {len(found)} mutants, tests: {' '.join(tests)}", flush=True)
    try:
        for number, mutation in enumerate(found, 1):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="+", help="paths relative to the repository, e.g. bot/webhook.py")
    parser.add_argument("--tests", nargs="+", help="test paths to run instead of the module's selection in TESTS")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant's test run")
    args = parser.parse_args(argv)

    unknown = [m for m in args.modules if m not in TESTS and not args.tests]
    if unknown:
        parser.error(f"no test selection for {', '.join(unknown)}: add it to TESTS or pass --tests")
    dirty = _dirty(args.modules)
    if dirty:
        parser.error(f"commit or stash the changes to {', '.join(dirty)} first: mutants are written in place")
    if not _tests_pass(sorted({t for m in args.modules for t in (args.tests or TESTS[m])}), args.timeout):
        parser.error("the test selection fails without any mutation: fix that first")

    started, table = time.monotonic(), []
    for module in args.modules:
        tests = [t for t in (args.tests or TESTS[module]) if (ROOT / t).exists()]
        killed, survivors = run_module(module, tests, timeout=args.timeout)
        table.append((module, killed, survivors))

    print(f"\n{'module':<28} {'mutants':>7} {'killed':>7} {'survived':>8} {'kill rate':>9}")
    for module, killed, survivors in table:
        total = killed + len(survivors)
        rate = f"{100 * killed / total:.0f} %" if total else "-"
        print(f"{module:<28} {total:>7} {killed:>7} {len(survivors):>8} {rate:>9}")
    for module, _, survivors in table:
        for mutation, _ in survivors:
            print(f"survivor {module}:{mutation.line}  {mutation.description}")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
