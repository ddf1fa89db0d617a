"""Shop settings (admins): the shop's name and privacy contact, quiet hours, LINE ids, and checking the channel."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot import i18n
from bot.console.session import kizuna, login_required
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import hours, shop
from crm_core.errors import KizunaError

FIELDS = ("name", "privacy_contact", "purpose_of_use", "line_basic_id", "add_friend_url", "quiet_hours")
HOURS_FIELDS = (*(f"hours_{day}" for day in hours.WEEKDAYS), "hours_dates")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/settings", view_func=shop_settings, methods=["GET", "POST"])
    bp.add_url_rule("/settings/line-check", view_func=check_line_channel, methods=["POST"])


def _values(profile: shop.ShopProfile, shop_hours: hours.BusinessHours) -> dict:
    values = {name: getattr(profile, name) or "" for name in FIELDS}
    if values["privacy_contact"] == shop.DEFAULT_PRIVACY_CONTACT:
        values["privacy_contact"] = ""  # the placeholder address is not the shop's: ask for the real one
    values.update({f"hours_{day}": text for day, text in shop_hours.weekly_text().items()})
    values["hours_dates"] = shop_hours.dates_text()
    return values


def _stored_values() -> dict:
    with kizuna().uow_factory() as uow:
        return _values(shop.get_profile(uow=uow), hours.get_shop_hours(uow=uow))


def _message(error: KizunaError) -> str:
    params = {key: value for key, value in error.params.items() if key != "field"}
    day = params.get("day")
    if day in hours.WEEKDAY_NAMES.values():
        params["day"] = _(day)
    return _(error.message, **params)


def _page(values: dict, *, errors: dict | None = None, status: int = 200, report=None):
    services = kizuna()
    with services.uow_factory() as uow:
        line_check = shop.last_line_check(uow=uow)
    checked_at = None
    if line_check and line_check.get("at"):
        from datetime import datetime

        moment = datetime.fromisoformat(line_check["at"])
        checked_at = i18n.format_moment(moment, current_locale(), services.settings.zone)
    return render_template(
        "console/settings.html",
        values=values,
        errors=errors or {},
        env_quiet_hours=services.settings.quiet_hours,
        line_check=line_check,
        checked_at=checked_at,
        report=report,
        webhook_url=f"{services.settings.public_url}/callback",
        weekdays=[(f"hours_{day}", _(hours.WEEKDAY_NAMES[day])) for day in hours.WEEKDAYS],
    ), status


@login_required(role="admin")
def shop_settings():
    """Show and change the shop's settings; a wrong field changes nothing and is named next to it."""
    if request.method == "GET":
        return _page(_stored_values())
    values = {name: request.form.get(name, "") for name in (*FIELDS, *HOURS_FIELDS)}
    services = kizuna()
    try:
        shop_hours = hours.from_form(
            weekly={day: values[f"hours_{day}"] for day in hours.WEEKDAYS}, dates=values["hours_dates"]
        )
        with services.uow_factory() as uow:
            today = uow.now().astimezone(services.settings.zone).date().isoformat()
            shop.update_profile(uow=uow, today=today, **{name: values[name] for name in FIELDS})
            hours.set_shop_hours(uow=uow, hours=shop_hours)
            uow.commit()
    except KizunaError as error:
        return _page(values, errors={error.params.get("field", "form"): _message(error)}, status=400)
    flash(_("The shop settings were saved."), "info")
    return redirect(url_for("console.shop_settings"))


@login_required(role="admin")
def check_line_channel():
    """Ask LINE about the channel (bot, webhook URL, a test call to it) and show what it found."""
    services = kizuna()
    webhook_url = f"{services.settings.public_url}/callback"
    report = services.gateway.check_channel(expected_webhook_url=webhook_url)
    with services.uow_factory() as uow:
        shop.record_line_check(uow=uow, ok=report.ok, at=uow.now(), bot_name=report.bot_name, basic_id=report.basic_id)
        uow.commit()
    return _page(_stored_values(), report=report)
