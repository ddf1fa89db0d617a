"""The codes customers show at the till: each coupon's own format (a prefix, then random characters).

Two alphabets, both safe to read aloud or type from a screen: `mixed` letters and digits without
0/O and 1/I, and `digits`. Every stored code is in normal form (`normalize_code`), which is also what
a till's typing becomes: full-width characters, case, spaces and dashes do not matter, and an O or an
I typed for a 0 or a 1 is read as the digit (neither letter is ever part of a code: prefixes may not
use them). Codes are unique over all coupons (a unique index), so a code names one coupon.
"""

from __future__ import annotations

import math
import secrets
import unicodedata

from crm_core.errors import N_, InvalidInput

MIXED, DIGITS = "mixed", "digits"
ALPHABETS = {MIXED: "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", DIGITS: "0123456789"}
DEFAULT_LENGTH = 12  # 60 bits of `mixed`: guessing a live code is hopeless
MIN_LENGTH = {MIXED: 6, DIGITS: 8}  # about 10^8 codes at least
MAX_CODE = 32  # the column; a signed QR code is longer
MAX_PREFIX = 8
PREFIX_CHARS = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")  # no O or I: they would read as 0 and 1
SPARE = 100  # a format holds at least this many codes per coupon of the stock, so new codes rarely collide
_DASHES = str.maketrans("", "", "-‐‑‒–—―−ー_")
_LOOKALIKES = str.maketrans({"O": "0", "I": "1"})


def normalize_code(code: str | None) -> str:
    """A code as people type or scan it, in the form it is stored."""
    text = unicodedata.normalize("NFKC", code or "")
    return "".join(text.split()).translate(_DASHES).upper().translate(_LOOKALIKES)


def plain(code: str | None) -> str:
    """Case, spaces and dashes dropped, letters kept as they are (for signed QR codes, which are base32)."""
    return "".join(unicodedata.normalize("NFKC", code or "").split()).replace("-", "").upper()


def new_code(*, prefix: str = "", alphabet: str = MIXED, length: int = DEFAULT_LENGTH) -> str:
    chars = ALPHABETS[alphabet]
    return prefix + "".join(secrets.choice(chars) for _ in range(length))


def display_code(code: str, *, prefix: str = "") -> str:
    """The code in groups that are easy to read out: the prefix, then groups of four."""
    has_prefix = bool(prefix) and code.startswith(prefix)
    rest = code[len(prefix) :] if has_prefix else code
    groups = [rest[i : i + 4] for i in range(0, len(rest), 4)]
    return "-".join(([prefix] if has_prefix else []) + groups)


def check_format(
    *, prefix: object, alphabet: object, length: object, stock: object
) -> tuple[str, dict[str, InvalidInput]]:
    """The prefix in normal form and the errors of the format, by field (`code_prefix`, ...)."""
    errors: dict[str, InvalidInput] = {}
    text = plain(prefix).translate(_DASHES) if isinstance(prefix, str) else None
    if text is None or len(text) > MAX_PREFIX or not set(text) <= PREFIX_CHARS:
        errors["code_prefix"] = InvalidInput(
            N_("At most %(count)s letters and digits, without O and I (they read like 0 and 1)."), count=MAX_PREFIX
        )
        text = ""
    if alphabet not in ALPHABETS:
        errors["code_alphabet"] = InvalidInput(N_("The characters are one of: %(kinds)s."), kinds=", ".join(ALPHABETS))
        return text, errors
    low, high = MIN_LENGTH[alphabet], MAX_CODE - len(text)
    if not isinstance(length, int) or isinstance(length, bool) or not low <= length <= high:
        errors["code_length"] = InvalidInput(
            N_("Enter a whole number from %(low)s to %(high)s."), low=f"{low:,}", high=f"{high:,}"
        )
    elif isinstance(stock, int) and stock * SPARE > len(ALPHABETS[alphabet]) ** length:
        needed = math.ceil(math.log(stock * SPARE, len(ALPHABETS[alphabet])))
        errors["code_length"] = InvalidInput(
            N_("Too few codes for a stock of %(stock)s: make them at least %(length)s characters long."),
            stock=f"{stock:,}",
            length=needed,
        )
    return text, errors
