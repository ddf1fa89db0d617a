"""Translations (Babel catalogs compiled in memory at start-up) and Japanese-first formatting."""

from __future__ import annotations

import functools
import io
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import DateTimePattern, format_skeleton, get_time_format, match_skeleton, parse_pattern
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.numbers import format_percent as babel_format_percent
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).parent / "translations"
LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
DAY_SKELETON = "yMMMdE"


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The catalog for `locale`; message ids are English, so `en` needs none."""
    po_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    if locale == "en" or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def normalize_locale(language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """LINE profile language to one of ours: Japanese, otherwise English; unknown -> the shop's default."""
    if not language:
        return default
    return "ja" if language.lower().startswith("ja") else "en"


def gettext(locale: str, message: str, **params) -> str:
    text = translations(locale).gettext(message)
    return text % params if params else text


def ngettext(locale: str, singular: str, plural: str, n: int, **params) -> str:
    text = translations(locale).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def format_yen(amount: int, locale: str) -> str:
    """¥1,234 in both languages (CLDR's Japanese uses the full-width ￥; shops and PRODUCT.md write ¥)."""
    return format_currency(amount, "JPY", locale=locale).replace("\uffe5", "¥")


def format_number(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)


def format_percent(share: float, locale: str) -> str:
    """0.125 as 12.5%."""
    return babel_format_percent(share, format="#,##0.0%", locale=locale)


@functools.lru_cache(maxsize=32)
def _date_patterns(locale: str) -> tuple[Locale, DateTimePattern, DateTimePattern]:
    """The locale and its parsed day (skeleton yMMMdE) and short time patterns, resolved once.

    What babel's format_skeleton / format_time look up on every call (the same CLDR data, the same result).
    """
    parsed = Locale.parse(locale)
    skeletons = parsed.datetime_skeletons
    skeleton = DAY_SKELETON if DAY_SKELETON in skeletons else match_skeleton(DAY_SKELETON, skeletons)
    return parsed, parse_pattern(skeletons[skeleton]), parse_pattern(get_time_format("short", locale=parsed))


def _apply_day(value: date | datetime, parsed: Locale, pattern: DateTimePattern) -> str:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return pattern.apply(value, parsed)


def _apply_time(value: datetime, parsed: Locale, pattern: DateTimePattern) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return pattern.apply(value.timetz(), parsed, reference_date=value.date())


def format_day(value: date | datetime, locale: str, tz: ZoneInfo | None = None) -> str:
    """2026年11月22日(日) / Sun, Nov 22, 2026."""
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(tz)
    parsed, day, _time = _date_patterns(locale)
    return _apply_day(value, parsed, day)


def format_moment(value: datetime, locale: str, tz: ZoneInfo) -> str:
    """2026年11月22日(日) 14:05 / Sun, Nov 22, 2026 2:05 PM, in business time."""
    local = value.astimezone(tz)
    parsed, day, clock = _date_patterns(locale)
    return f"{_apply_day(local, parsed, day)} {_apply_time(local, parsed, clock)}"


def format_short_moment(value: datetime, locale: str, tz: ZoneInfo) -> str:
    """11/23(月) 10:00 / Mon, 11/23 10:00 AM, in business time: short enough for a quick reply's label."""
    local = value.astimezone(tz)
    parsed, _day, clock = _date_patterns(locale)
    return f"{format_skeleton('MEd', local, locale=parsed)} {_apply_time(local, parsed, clock)}"


def format_clock(value: datetime, locale: str, tz: ZoneInfo) -> str:
    """14:05 / 2:05 PM, in business time."""
    parsed, _day, clock = _date_patterns(locale)
    return _apply_time(value.astimezone(tz), parsed, clock)


def format_month_day(month: int, day: int, locale: str) -> str:
    """A birthday without its year: 4月12日 / April 12."""
    return format_skeleton("MMMMd", date(2000, month, day), locale=locale)
