"""Render LINE messages from Jinja2 templates in templates/messages/<name>/message.json.j2."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot import i18n

MESSAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"


class MessageRenderer:
    """Turns (template name, context, locale) into a list of LINE message objects."""

    def __init__(self, *, timezone: str = "Asia/Tokyo", public_url: str = "http://127.0.0.1:8000"):
        self.zone = ZoneInfo(timezone)
        self.public_url = public_url
        self.env = Environment(
            loader=FileSystemLoader(MESSAGE_TEMPLATES),
            undefined=StrictUndefined,
            autoescape=False,  # noqa: S701  (LINE JSON, not HTML: strings go through |tojson)
            extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.policies["ext.i18n.trimmed"] = True

    def _zone(self, name: str | None) -> ZoneInfo:
        return ZoneInfo(name) if name else self.zone

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in MESSAGE_TEMPLATES.glob("*/message.json.j2"))

    def render(self, template_name: str, /, *, locale: str, **context) -> list[dict]:
        template = self.env.get_template(f"{template_name}/message.json.j2")
        tr = i18n.translations(locale)
        text = template.render(
            _=lambda message, **params: (tr.gettext(message) % params) if params else tr.gettext(message),
            gettext=tr.gettext,
            ngettext=lambda s, p, n, **params: tr.ngettext(s, p, n) % {"num": n, **params},
            locale=locale,
            yen=lambda amount: i18n.format_yen(amount, locale),
            number=lambda value: i18n.format_number(value, locale),
            # in business time, or in `zone` (a store's own time zone, for its bookings)
            day=lambda value, zone=None: i18n.format_day(value, locale, self._zone(zone)),
            moment=lambda value, zone=None: i18n.format_moment(value, locale, self._zone(zone)),
            time_of=lambda value, zone=None: i18n.format_clock(value, locale, self._zone(zone)),
            short_moment=lambda value, zone=None: i18n.format_short_moment(value, locale, self._zone(zone)),
            public_url=self.public_url,
            **context,
        )
        try:
            messages = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"template {template_name} rendered invalid JSON: {error}") from None
        return messages if isinstance(messages, list) else [messages]
