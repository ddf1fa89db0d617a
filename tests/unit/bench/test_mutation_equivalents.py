"""The mutation runner counts a survivor as equivalent only where the source says so, at its line or just above."""

import ast
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _runner():
    spec = importlib.util.spec_from_file_location("kizuna_bench_mutation", ROOT / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SOURCE = """\
def f(x):
    if x > 0:  # mutation-equivalent: x is never 0
        return 1
    # a batch size;
    # mutation-equivalent: +-1 changes nothing a user sees
    limit = 20
    return limit + x


def g(x):
    return x < 3
"""


def test_a_survivor_is_equivalent_only_where_the_source_explains_it():
    runner = _runner()
    lines = SOURCE.splitlines()
    found = {(m.line, m.description): m for m in runner.mutations_of(ast.parse(SOURCE))}
    by_line = {}
    for (line, _), mutation in found.items():
        by_line.setdefault(line, []).append(runner.equivalent(lines, mutation))

    assert all(by_line[2])  # said on the line itself
    assert all(by_line[6])  # said in the comment block right above
    assert not any(by_line[7])  # the comment block ends at the statement it is about
    assert not any(by_line[11])  # nothing said
