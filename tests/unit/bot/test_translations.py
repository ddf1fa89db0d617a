"""The Japanese catalog covers every message id in the code and templates, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> set[str]:
    method_map = [
        ("crm_core/**.py", "python"),
        ("bot/**.py", "python"),
        ("scheduler/**.py", "python"),
        ("templates/messages/**.j2", "jinja2"),
        ("bot/**/templates/**.html", "jinja2"),
    ]
    options = {"**.j2": {"extensions": "jinja2.ext.i18n,jinja2.ext.do", "trimmed": "true"},
               "**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}  # fmt: skip
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        if "/simulator/" in _file or _file.startswith(".venv"):
            continue
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog():
    with (ROOT / "bot/translations/ja/LC_MESSAGES/messages.po").open("rb") as handle:
        return read_po(handle, locale="ja")


def test_every_message_id_has_a_japanese_translation():
    catalog = _catalog()
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string))
    }
    missing = sorted(_extracted() - translated)
    assert missing == [], "run the extraction and translate: " + "; ".join(missing[:10])


def test_translations_keep_the_placeholders():
    for message in _catalog():
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == expected, message.id


def test_formats():
    assert i18n.format_yen(1234, "ja") == "¥1,234"
    assert i18n.format_yen(1234, "en") == "¥1,234"
    from datetime import date

    assert i18n.format_day(date(2026, 11, 22), "ja") == "2026年11月22日(日)"
    assert i18n.normalize_locale("en-US") == "en"
    assert i18n.normalize_locale("ja") == "ja"
    assert i18n.normalize_locale(None, "en") == "en"
