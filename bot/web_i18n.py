"""Babel in web pages: the locale of the request (`?lang=`, then the session, then the browser)."""

from __future__ import annotations

from flask import Flask, current_app, g, request, session

from bot import i18n


def current_locale() -> str:
    cached = getattr(g, "kizuna_locale", None)
    if cached:
        return cached
    default = current_app.extensions["kizuna"].settings.locale
    asked = request.args.get("lang")
    if asked in i18n.LOCALES:
        session["lang"] = asked
        locale = asked
    elif session.get("lang") in i18n.LOCALES:
        locale = session["lang"]
    else:
        locale = request.accept_languages.best_match(i18n.LOCALES, default=default) if request else default
    g.kizuna_locale = locale
    return locale


def gettext(message: str, **params) -> str:
    return i18n.gettext(current_locale(), message, **params)


def ngettext(singular: str, plural: str, n: int, **params) -> str:
    return i18n.ngettext(current_locale(), singular, plural, n, **params)


def init_app(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.install_gettext_callables(
        lambda message: i18n.translations(current_locale()).gettext(message),
        lambda s, p, n: i18n.translations(current_locale()).ngettext(s, p, n),
        newstyle=True,
    )

    @app.context_processor
    def _formatting():
        settings = current_app.extensions["kizuna"].settings
        locale = current_locale()
        return {
            "locale": locale,
            "yen": lambda amount: i18n.format_yen(amount, locale),
            "day": lambda value: i18n.format_day(value, locale, settings.zone),
            "moment": lambda value: i18n.format_moment(value, locale, settings.zone),
        }
