"""Every timeline entry the code writes, and every button a customer can tap, has words on the console."""

from __future__ import annotations

import re
from pathlib import Path

from bot.console.timeline_labels import DETAILED, LABELS, POSTBACKS, PROFILE_CHANGED
from bot.handlers.postback import ACTIONS

ROOT = Path(__file__).resolve().parents[3]
CALLS = re.compile(r"(?:timeline\.record|channels\.record_message)\(")
KIND = re.compile(r'kind=((?:"\w+"(?: if [^,]*? else )?)+)')


def _call_text(source: str, start: int) -> str:
    depth, index = 0, start
    while True:
        depth += {"(": 1, ")": -1}.get(source[index], 0)
        if depth == 0 and source[index] == ")":
            return source[start : index + 1]
        index += 1


def _recorded_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in [*ROOT.glob("crm_core/**/*.py"), *ROOT.glob("bot/**/*.py"), *ROOT.glob("scheduler/**/*.py")]:
        source = path.read_text(encoding="utf-8")
        for call in CALLS.finditer(source):
            for found in KIND.findall(_call_text(source, call.end() - 1)):
                kinds.update(re.findall(r'"(\w+)"', found))
    return kinds


def test_every_timeline_kind_has_a_label():
    kinds = _recorded_kinds()
    assert {"purchase", "followed", "opted_out", "opted_in", "postback"} <= kinds  # the scan finds them
    assert sorted(kinds - LABELS.keys() - DETAILED.keys() - {"profile_changed"}) == []
    assert set(PROFILE_CHANGED) == {"line", "console"}  # profile_changed has its own words


def test_every_postback_action_has_words():
    assert sorted(ACTIONS.keys() - POSTBACKS.keys()) == []
