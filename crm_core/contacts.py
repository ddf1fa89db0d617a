"""Names, kana, phone numbers, e-mail addresses and store codes: one way to check and normalize each.

Every path that writes a customer, a store or an account (console, API, CLI, import, LINE) checks
with these functions, so the same input gets the same answer and the same reason everywhere.
"""

from __future__ import annotations

import re
import unicodedata

from crm_core.errors import N_, InvalidInput

_HIRAGANA_START, _KATAKANA_START, _KATAKANA_END = 0x3041, 0x30A1, 0x30F6
_SPACES = re.compile(r"[\s\u3000・･]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_STORE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 10, 15
_PHONE_CHARS = set("0123456789+-() ")


def digits_of(text: str | None) -> str:
    """The ASCII digits in `text`, after folding full-width ones (０-９) typed on Japanese keyboards."""
    return "".join(c for c in unicodedata.normalize("NFKC", text or "") if c in "0123456789")


def fold_kana(text: str | None) -> str:
    """Text as search compares it: NFKC (half-width kana and full-width letters folded), lower case,
    katakana as hiragana, no spaces or middle dots, so やまだ はなこ, ヤマダハナコ and ﾔﾏﾀﾞ ﾊﾅｺ are equal."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = "".join(
        chr(ord(char) - (_KATAKANA_START - _HIRAGANA_START)) if _KATAKANA_START <= ord(char) <= _KATAKANA_END else char
        for char in text
    )
    return _SPACES.sub("", text)


def search_key(*, name: str | None, name_kana: str | None, phone: str | None) -> str:
    """The one normalized key customer search looks in: folded name and kana, and the phone's digits."""
    parts = [fold_kana(name), fold_kana(name_kana), digits_of(phone)]
    return "|".join(part for part in parts if part)


def normalize_phone(text: str | None) -> str | None:
    """A phone number as it is stored (digits, with a leading + kept), or None when empty.

    Full-width digits and the dashes people type (ー, －, ‐) are accepted; InvalidInput otherwise.
    """
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return None
    text = re.sub(r"[\u2010-\u2015\u2212\u30fc\uff70]", "-", text)
    digits = digits_of(text)
    if set(text) - _PHONE_CHARS or not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        raise InvalidInput(N_("A phone number has 10 to 15 digits (dashes and spaces are fine)."))
    return ("+" if text.startswith("+") else "") + digits


def normalize_email(text: str | None) -> str | None:
    """An e-mail address, trimmed and lower-cased, or None when empty; InvalidInput when it cannot be one."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidInput(N_("Enter a valid e-mail address."))
    return text.lower()


def normalize_store_code(text: str | None) -> str:
    """A store code: 1 to 32 letters, digits, - or _, upper-cased (shibuya-1 -> SHIBUYA-1)."""
    code = unicodedata.normalize("NFKC", text or "").strip().upper()
    if not _STORE_CODE.match(code):
        raise InvalidInput(N_("A store code has 1 to 32 letters, digits, - or _ (for example SHIBUYA)."))
    return code


def normalize_kana(text: str | None) -> str | None:
    """フリガナ as stored: NFKC (half-width to full-width katakana), hiragana turned to katakana, one space."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return None
    text = "".join(
        chr(ord(char) + (_KATAKANA_START - _HIRAGANA_START)) if _HIRAGANA_START <= ord(char) <= 0x3096 else char
        for char in text
    )
    text = re.sub(r"[\s\u3000]+", " ", text)
    if not all(char == " " or char == "ー" or _KATAKANA_START <= ord(char) <= 0x30FA for char in text):
        raise InvalidInput(N_("Write the reading (furigana) in kana, for example ヤマダ ハナコ."))
    return text
