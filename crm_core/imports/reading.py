"""Reading import files: encoding, header aliases, cell parsing, and the problems reported per line.

Problems are a message id plus parameters; `describe` words them in English or Japanese. They name
the column and the problem, never the row's personal data.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from crm_core.errors import N_, KizunaError
from crm_core.purchases import MAX_TOTAL

BATCH_SIZE = 1000
FUTURE_SLACK_MINUTES = 10

# message id -> Babel message id (English); the command line translates them (bot/translations)
MESSAGES = {
    "empty": N_("the file is empty; a header row is required"),
    "encoding": N_("the file is neither UTF-8 nor Shift_JIS"),
    "encoding_forced": N_("the file cannot be read as %(encoding)s"),
    "missing_columns": N_("the header lacks the column(s) %(columns)s"),
    "duplicate_column": N_("the header has the column %(column)s twice"),
    "required": N_("%(column)s is required"),
    "too_long": N_("%(column)s is longer than %(max)d characters"),
    "bad_date": N_("%(column)s is not a date (YYYY-MM-DD or YYYY/MM/DD)"),
    "bad_datetime": N_("%(column)s is not a date and time (YYYY-MM-DD HH:MM, YYYY/MM/DD HH:MM or ISO 8601)"),
    "future": N_("%(column)s is in the future"),
    "bad_email": N_("%(column)s is not an e-mail address"),
    "bad_phone": N_("%(column)s is not a phone number (10 to 15 digits; dashes and spaces are fine)"),
    "bad_kana": N_("%(column)s must be written in kana, for example ヤマダ ハナコ"),
    "bad_locale": N_("%(column)s must be ja or en"),
    "bad_yen": N_("%(column)s must be a whole number of yen from 0"),
    "bad_quantity": N_("%(column)s must be a whole number from 1 to 10,000"),
    "bad_member_number": N_("%(column)s is not a valid member number"),
    "duplicate": N_("%(column)s %(value)s also appears on line %(first)d"),
    "member_number_taken": N_("%(column)s belongs to another customer"),
    "member_number_replaced": N_("%(column)s is not a valid Kizuna member number; a new one was issued"),
    "erased": N_("this customer's data was erased on request"),
    "no_customer": N_("no customer with this %(column)s"),
    "customer_mismatch": N_("customer_external_id and member_number name different customers"),
    "no_customer_ref": N_("customer_external_id or member_number is required"),
    "no_store": N_("no store with the code %(value)s"),
    "bad_store_code": N_("%(column)s %(value)s is not a store code (1 to 32 letters, digits, - or _)"),
    "differs": N_("%(column)s differs from line %(first)d of the same purchase"),
    "item_incomplete": N_("an item needs sku, name, quantity and unit_price"),
    "items_total": N_("the items add up to %(items)d yen but total is %(total)d yen"),
    "other_line_bad": N_("purchase %(value)s is not imported because line %(first)d is bad"),
    "conflict": N_("a different purchase was already recorded with external_id %(value)s"),
    "batch_failed": N_("not imported: the batch with this row failed and was rolled back (%(error)s)"),
}
SUMMARY = {
    "customers": N_(
        "rows read %(rows)d, imported %(imported)d, updated %(updated)d, already imported %(already)d, bad %(bad)d"
    ),
    "purchases": N_(
        "rows read %(rows)d, purchases imported %(imported)d, already imported %(already)d, "
        "bad rows %(bad)d, points granted %(points)d"
    ),
    "dry_run": N_("dry run: nothing was written"),
}


def _same(message: str) -> str:
    return message


def describe(code: str, params: dict, gettext=_same, table: dict | None = None) -> str:
    """The message in words: English, or through `gettext` (the command line passes Babel's)."""
    return gettext((table or MESSAGES)[code]) % params


class ImportFileError(KizunaError):
    """The file as a whole cannot be imported (encoding, header); nothing was written."""

    code = "import_file"

    def __init__(self, key: str, **params):
        self.key = key
        super().__init__(MESSAGES[key], **params)

    def describe(self, gettext=_same) -> str:
        return describe(self.key, self.params, gettext)


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    code: str
    params: dict = field(default_factory=dict)

    def describe(self, gettext=_same) -> str:
        problem = describe(self.code, {"column": self.column, **self.params}, gettext)
        return gettext(N_("line %(line)d: %(problem)s")) % {"line": self.line, "problem": problem}


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    imported: int = 0
    updated: int = 0
    already: int = 0
    points: int = 0
    dry_run: bool = False
    errors: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return len({problem.line for problem in self.errors})

    def summary(self, gettext=_same) -> str:
        params = {"rows": self.rows, "imported": self.imported, "updated": self.updated}
        params |= {"already": self.already, "bad": self.bad, "points": self.points}
        text = describe(self.kind, params, gettext, SUMMARY)
        return text + ("\n" + describe("dry_run", {}, gettext, SUMMARY) if self.dry_run else "")


Progress = Callable[[int, int], None]  # (rows just written, rows to write in all)

# --- reading the file ---------------------------------------------------------------------------

CUSTOMER_COLUMNS = {
    "external_id": ("外部id", "顧客id", "会員id", "顧客コード"),
    "name": ("氏名", "名前", "顧客名", "お名前"),
    "name_kana": ("フリガナ", "ふりがな", "カナ", "氏名カナ", "氏名(カナ)"),
    "birth_date": ("生年月日", "誕生日"),
    "phone": ("電話番号", "電話", "携帯電話番号"),
    "email": ("メールアドレス", "メール", "e_mail", "mail"),
    "member_number": ("会員番号", "カード番号"),
    "locale": ("言語",),
}
PURCHASE_COLUMNS = {
    "external_id": ("取引id", "購入id", "伝票番号", "レシート番号"),
    "customer_external_id": ("顧客id", "会員id", "外部顧客id", "顧客コード"),
    "member_number": ("会員番号", "カード番号"),
    "store_code": ("店舗コード",),
    "occurred_at": ("日時", "購入日時", "取引日時"),
    "total": ("合計", "合計金額", "金額"),
    "sku": ("商品コード", "jan"),
    "name": ("商品名",),
    "category": ("カテゴリ", "カテゴリー", "分類", "部門"),
    "quantity": ("数量", "個数"),
    "unit_price": ("単価",),
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def decode(raw: bytes, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM) or Shift_JIS as Excel writes it (cp932); `encoding` forces one."""
    if encoding:
        try:
            return raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
        except (UnicodeDecodeError, LookupError):
            raise ImportFileError("encoding_forced", encoding=encoding) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932")
    except UnicodeDecodeError:
        raise ImportFileError("encoding") from None


@dataclass
class CsvRows:
    rows: list[tuple[int, dict]]  # (line number where the row starts, {column: folded text})
    columns: set[str]  # the known columns the header has
    ignored: list[str]  # header cells that name no known column


def read_rows(path: Path | str, columns: dict, encoding: str | None = None) -> CsvRows:
    """The data rows of a CSV file whose header names some of `columns` (or their aliases)."""
    text = decode(Path(path).read_bytes(), encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise ImportFileError("empty")
    aliases = {name: name for name in columns} | {alias: name for name, names in columns.items() for alias in names}
    positions: dict[str, int] = {}
    ignored = []
    for position, cell in enumerate(header):
        key = re.sub(r"[\s\-]+", "_", _fold(cell).lower())
        name = aliases.get(key)
        if name is None:
            if cell.strip():
                ignored.append(cell.strip())
            continue
        if name in positions:
            raise ImportFileError("duplicate_column", column=name)
        positions[name] = position
    rows = []
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        rows.append((start, {name: _fold(cells[i]) if i < len(cells) else "" for name, i in positions.items()}))
    return CsvRows(rows=rows, columns=set(positions), ignored=ignored)


def require_columns(present: set[str], required: list[str]) -> None:
    missing = [name for name in required if name not in present]
    if missing:
        raise ImportFileError("missing_columns", columns=", ".join(missing))


# --- parsing cells ------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_LOCAL = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


class Bad(Exception):
    """A cell that cannot be imported; the caller adds the line and column."""

    def __init__(self, code: str, **params):
        self.code, self.params = code, params


def parse_text(value: str, limit: int, *, required: bool = False) -> str | None:
    if not value:
        if required:
            raise Bad("required")
        return None
    if len(value) > limit:
        raise Bad("too_long", max=limit)
    return value


def parse_date(value: str) -> date:
    match = _DATE.match(value)
    try:
        parsed = date(*map(int, match.groups())) if match else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.year < 1900:
        raise Bad("bad_date")
    return parsed


def parse_moment(value: str, zone: ZoneInfo) -> datetime:
    """`YYYY/MM/DD HH:MM[:SS]`, `YYYY-MM-DD H:MM` or ISO 8601; without an offset it is business time in `zone`."""
    match = _LOCAL.match(value)
    try:
        if match:
            year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
            moment = datetime(year, month, day, hour, minute, second)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise Bad("bad_datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(ZoneInfo("UTC"))


def parse_yen(value: str) -> int:
    """Whole yen: `3240`, `3,240`, `¥3,240`, `￥3,240`, `３２４０円` all read as 3240."""
    cleaned = value.replace(",", "").replace("円", "").replace(" ", "")
    cleaned = cleaned.removeprefix("¥").removeprefix("\\")  # Shift_JIS shows its backslash as a yen sign
    if not cleaned.isascii() or not cleaned.isdigit() or int(cleaned) > MAX_TOTAL:
        raise Bad("bad_yen")
    return int(cleaned)


def parse_quantity(value: str) -> int:
    cleaned = value.replace(",", "")
    if not cleaned.isascii() or not cleaned.isdigit() or not 1 <= int(cleaned) <= 10_000:
        raise Bad("bad_quantity")
    return int(cleaned)


def safe_error(error: Exception) -> str:
    """What a failed batch reports: the kind of error only (database messages can quote row data)."""
    return type(error).__name__
