"""Automations (marketers and admins): each one on or off, its hold-out share and wording previewed for a real
customer, the weekly cap and quiet hours, "run now", and per-day results against the hold-out group."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from bot import i18n
from bot.console import automation_charts
from bot.console.session import current_user, kizuna, login_required
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import automations, customers, shop
from crm_core.automations import audience, results
from crm_core.errors import N_, InvalidInput, KizunaError

EDITOR_ROLE = "marketer"
PERIODS = (7, 28, 90)
DEFAULT_PERIOD = 28
REASONS = {
    "cap": N_("weekly cap reached"),
    "opted_out": N_("opted out"),
    "blocked": N_("blocked the account"),
    "no_consent": N_("no consent to the privacy notice"),
    "no_line": N_("not a LINE friend"),
    "no_match": N_("nothing to recommend"),
    "sold_out": N_("the coupon ran out"),
    "coupon_limit": N_("already holds as many of the coupon as one may"),
    "quiet_hours": N_("quiet hours"),
    "quota": N_("LINE's monthly quota"),
    "queued": N_("queued"),
    "booking_cancelled": N_("the booking was cancelled or moved"),
    "other": N_("other"),
}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/automations", view_func=automation_list)
    bp.add_url_rule("/automations/limits", view_func=save_limits, methods=["POST"])
    bp.add_url_rule("/automations/run", view_func=run_automations, methods=["POST"])
    bp.add_url_rule("/automations/<key>", view_func=automation_edit, methods=["GET", "POST"])
    bp.add_url_rule("/automations/<key>/preview", view_func=automation_preview, methods=["POST"])
    bp.add_url_rule("/automations/<key>/run", view_func=run_one_automation, methods=["POST"])
    bp.add_url_rule("/automations/<key>/results", view_func=automation_results)


def _today() -> date:
    services = kizuna()
    return services.uow_factory.clock.now().astimezone(services.settings.zone).date()


def _reason(word: str) -> str:
    return _(REASONS[word]) if word in REASONS else word


def _reasons(counter) -> list[tuple[str, int]]:
    return [(_reason(word), count) for word, count in counter.most_common()]


def _error_text(error: KizunaError) -> str:
    """The domain error in the page's language (its params may include `locale`, so no gettext(**params))."""
    text = i18n.translations(current_locale()).gettext(error.message)
    return text % error.params if error.params else text


def _definition(key: str):
    definition = automations.AUTOMATIONS.get(key)
    if definition is None:
        abort(404)
    return definition


# --- the list, the weekly cap and quiet hours, run now -------------------------------------------------------


def _list_page(*, error: str | None = None, values: dict | None = None, status: int = 200):
    services = kizuna()
    today = _today()
    with services.uow_factory() as uow:
        rows = automations.list_automations(uow=uow)
        week = results.recent_totals(uow=uow, since=today - timedelta(days=6), until=today)
        cap = automations.weekly_cap(uow)
        stored_quiet_hours = shop.get_profile(uow=uow).quiet_hours
    env_quiet_hours = services.settings.quiet_hours
    items = [
        {
            "key": row.key,
            "title": _(automations.AUTOMATIONS[row.key].title),
            "description": _(automations.AUTOMATIONS[row.key].description),
            "enabled": row.enabled,
            "holdout_percent": row.holdout_percent,
            "transactional": automations.AUTOMATIONS[row.key].transactional,
            "week": week.get(row.key) or results.DayCounts(),
        }
        for row in rows
    ]
    values = values or {"weekly_cap": cap, "quiet_hours": stored_quiet_hours}
    return render_template(
        "console/automations.html",
        items=items,
        values=values,
        error=error,
        quiet_hours=env_quiet_hours or stored_quiet_hours,
        env_quiet_hours=env_quiet_hours,
    ), status


@login_required(role=EDITOR_ROLE)
def automation_list():
    """Each automation with its switch, hold-out share and the last 7 days; the weekly cap and quiet hours."""
    return _list_page()


def _whole_number(text: str, message: str) -> int:
    text = unicodedata.normalize("NFKC", text or "").strip().removesuffix("%").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        raise InvalidInput(message)
    return int(text)


@login_required(role=EDITOR_ROLE)
def save_limits():
    """Change the weekly cap and the quiet hours (unless KIZUNA_QUIET_HOURS sets them); a mistake saves nothing."""
    values = {name: request.form.get(name, "") for name in ("weekly_cap", "quiet_hours")}
    services = kizuna()
    try:
        cap = _whole_number(values["weekly_cap"], N_("The weekly cap must be a whole number."))
        with services.uow_factory() as uow:
            automations.set_weekly_cap(uow, cap)
            if not services.settings.quiet_hours:
                shop.set_quiet_hours(uow=uow, quiet_hours=values["quiet_hours"])
            uow.commit()
    except KizunaError as error:
        return _list_page(error=_error_text(error), values=values, status=400)
    flash(_("The weekly cap and quiet hours were saved."), "info")
    return redirect(url_for("console.automation_list"))


DELIVERY_SECONDS = 20  # "run now" delivers for at most this long in the request; the outbox.deliver job does the rest


def _today_totals(services, key: str | None) -> results.DayCounts:
    today = _today()
    totals = results.DayCounts()
    with services.uow_factory() as uow:
        for name, counts in results.recent_totals(uow=uow, since=today, until=today).items():
            if key is None or name == key:
                totals.add(counts)
    return totals


def _run_and_deliver(services, run, *, key: str | None = None) -> str:
    """Run `run()` (which decides), deliver what may go now, and say in a sentence what both did."""
    before = _today_totals(services, key)
    run()
    report = services.delivery.deliver_due(max_seconds=DELIVERY_SECONDS)  # round after round until none is due
    delivered = {name: getattr(report, name) for name in ("sent", "cancelled", "failed")}
    after = _today_totals(services, key)
    skipped = sum(after.skipped.values()) - sum(before.skipped.values())
    holdout = after.holdout - before.holdout
    decided = after.decided - before.decided
    if not decided and not any(delivered.values()):
        return _("Nothing was due now, and nothing was waiting to be delivered.")
    return _(
        "Decided %(decided)s: %(send)s to send, %(holdout)s held out, %(skipped)s skipped. "
        "Delivered %(sent)s, cancelled %(cancelled)s, failed %(failed)s; "
        "%(waiting)s of today's messages wait for quiet hours to end, LINE's quota or a retry.",
        decided=decided,
        send=decided - holdout - skipped,
        holdout=holdout,
        skipped=skipped,
        waiting=after.waiting,
        **delivered,
    )


@login_required(role=EDITOR_ROLE)
def run_automations():
    """Run `automations.run` now, then deliver, in the foreground (like `kizuna jobs run`), and say what happened."""
    from scheduler.jobs import JOBS, run_job

    services = kizuna()
    if "automations.run" not in JOBS:
        flash(_("The automations cannot run: this installation has no automations.run job."), "error")
        return redirect(url_for("console.automation_list"))
    with services.uow_factory() as uow:
        enabled = [row.key for row in automations.list_automations(uow=uow) if row.enabled]
    if not enabled:
        flash(_("No automation is on: switch one on, or run one from its own page."), "error")
        return redirect(url_for("console.automation_list"))
    flash(_run_and_deliver(services, lambda: run_job("automations.run", services)), "info")
    return redirect(url_for("console.automation_list"))


@login_required(role=EDITOR_ROLE)
def run_one_automation(key: str):
    """Decide this automation now (even while it is off), then deliver, and say what happened."""
    _definition(key)
    services = kizuna()

    def run():
        with services.uow_factory() as uow:
            automations.run_now(uow=uow, render=services.automation_render(uow), zone=services.settings.zone, key=key)
            uow.commit()

    flash(_run_and_deliver(services, run, key=key), "info")
    return redirect(url_for("console.automation_edit", key=key))


# --- editing and previewing -----------------------------------------------------------------------------------


def _form_values(row) -> dict:
    templates = row.templates or {}
    return {
        "enabled": row.enabled,
        "holdout_percent": str(row.holdout_percent),
        "text_ja": (templates.get("ja") or {}).get("text", ""),
        "text_en": (templates.get("en") or {}).get("text", ""),
        "member_number": "",
    }


def _posted_values() -> dict:
    form = request.form
    return {
        "enabled": form.get("enabled") == "on",
        "holdout_percent": form.get("holdout_percent", ""),
        "text_ja": form.get("text_ja", ""),
        "text_en": form.get("text_en", ""),
        "member_number": (form.get("customer") or form.get("member_number") or "").strip(),
    }


def _templates(values: dict) -> dict | None:
    templates = {locale: {"text": values[f"text_{locale}"].strip()} for locale in ("ja", "en")}
    return templates if any(entry["text"] for entry in templates.values()) else None


def _edit_page(key: str, values: dict, *, error: str | None = None, preview=None, status: int = 200):
    definition = _definition(key)
    with kizuna().uow_factory() as uow:
        suggestions = [(c.member_number, c.name) for c in audience.suggested_customers(uow=uow)]
    return render_template(
        "console/automation_edit.html",
        key=key,
        title=_(definition.title),
        description=_(definition.description),
        placeholders=definition.placeholders,
        transactional=definition.transactional,
        values=values,
        error=error,
        preview=preview,
        suggestions=suggestions,
    ), status


@login_required(role=EDITOR_ROLE)
def automation_edit(key: str):
    """Show an automation's settings; save the switch, hold-out share and wording (a mistake saves nothing)."""
    _definition(key)
    if request.method == "GET":
        with kizuna().uow_factory() as uow:
            row = automations.get_automation(uow=uow, key=key)
        return _edit_page(key, _form_values(row))
    values = _posted_values()
    try:
        holdout = None  # a reminder the customer asked for has no hold-out group
        if not _definition(key).transactional:
            holdout = _whole_number(
                values["holdout_percent"], N_("The hold-out share must be a whole number of percent.")
            )
        with kizuna().uow_factory() as uow:
            automations.update_automation(
                uow=uow,
                key=key,
                enabled=values["enabled"],
                holdout_percent=holdout,
                templates=_templates(values),
                by=current_user().id,
            )
            uow.commit()
    except KizunaError as error:
        return _edit_page(key, values, error=_error_text(error), status=400)
    flash(_("The automation was saved."), "info")
    return redirect(url_for("console.automation_edit", key=key))


@login_required(role=EDITOR_ROLE)
def automation_preview(key: str):
    """Show what a customer would get now with the wording in the form, without sending or saving anything."""
    from bot import automation_messages

    _definition(key)
    values = _posted_values()
    services = kizuna()
    try:
        with services.uow_factory() as uow:
            customer = customers.get_by_member_number(uow=uow, member_number=values["member_number"])
            if customer is None or customer.erased_at is not None:
                raise InvalidInput(N_("No customer has the member number %(number)s."), number=values["member_number"])
            # {}: both languages empty previews the built-in wording, not the saved one
            messages = automation_messages.preview(services, uow, key, customer.id, templates=_templates(values) or {})
            name = customer.name
    except KizunaError as error:
        return _edit_page(key, values, error=_error_text(error), status=400)
    return _edit_page(key, values, preview={"customer": name, "messages": readable(messages)})


def readable(messages: list[dict]) -> list[dict]:
    """LINE messages as the console shows them: each with its alt text and its lines of text and buttons."""
    shown = []
    for message in messages:
        if message.get("type") == "text":
            shown.append({"alt": None, "lines": [{"text": message.get("text", ""), "kind": "text"}]})
        elif message.get("type") == "flex":
            lines: list[dict] = []
            _collect(message.get("contents") or {}, lines)
            shown.append({"alt": message.get("altText"), "lines": lines})
        else:
            shown.append({"alt": message.get("altText"), "lines": [{"text": message.get("type", ""), "kind": "other"}]})
    return shown


def _collect(node, lines: list[dict]) -> None:
    """The texts of a Flex container in reading order (bubbles of a carousel one after the other)."""
    if isinstance(node, list):
        for child in node:
            _collect(child, lines)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "text":
        text = node.get("text") or "".join(span.get("text", "") for span in node.get("contents") or [])
        heading = node.get("weight") == "bold" or node.get("size") in ("lg", "xl", "xxl", "3xl")
        lines.append({"text": text, "kind": "heading" if heading else "text"})
    elif kind == "button":
        lines.append({"text": (node.get("action") or {}).get("label", ""), "kind": "button"})
    elif kind == "image":
        lines.append({"text": node.get("url", ""), "kind": "image"})
    if kind == "carousel":
        _collect(node.get("contents"), lines)
    for part in ("header", "hero", "body", "footer"):
        if part in node:
            _collect(node[part], lines)
    if kind == "box":
        _collect(node.get("contents"), lines)


# --- results --------------------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _yen(value: float | None) -> str:
    return "—" if value is None else i18n.format_yen(round(value), current_locale())


def _signed_yen(value: float) -> str:
    text = i18n.format_yen(abs(round(value)), current_locale())
    return ("+" if round(value) >= 0 else "−") + text


def _verdict(interval, *, measure: str) -> str:
    if interval is None:
        return _("Not enough data yet: both groups need customers whose 7 days are over.")
    if measure == "rate":
        low, high = _points(interval.low), _points(interval.high)
        if interval.direction == "up":
            return _("Customers who got the message bought more often: %(low)s to %(high)s points.", low=low, high=high)
        if interval.direction == "down":
            return _("Customers who got the message bought less often: %(low)s to %(high)s points.", low=low, high=high)
        return _(
            "No clear effect yet on how many bought: anywhere from %(low)s to %(high)s points.", low=low, high=high
        )
    low, high = _signed_yen(interval.low), _signed_yen(interval.high)
    if interval.direction == "up":
        return _("Customers who got the message spent more: %(low)s to %(high)s per customer.", low=low, high=high)
    if interval.direction == "down":
        return _("Customers who got the message spent less: %(low)s to %(high)s per customer.", low=low, high=high)
    return _("No clear effect yet on spending: anywhere from %(low)s to %(high)s per customer.", low=low, high=high)


@login_required(role=EDITOR_ROLE)
def automation_results(key: str):
    """Per day and in total: what the automation decided and what became of it; messaged against held out."""
    definition = _definition(key)
    return results_page(
        key,
        title=_(definition.title),
        back=(url_for("console.automation_list"), _("Automations")),
        settings_url=url_for("console.automation_edit", key=key),
        results_endpoint=("console.automation_results", {"key": key}),
    )


def results_page(
    key: str, *, title: str, back: tuple[str, str], settings_url: str, results_endpoint: tuple, coupon=None
):
    """The results page of an automation or a coupon flow (`key`), with its links and a coupon's figures."""
    days = request.args.get("days", type=int)
    days = days if days in PERIODS else DEFAULT_PERIOD
    until = _today()
    since = until - timedelta(days=days - 1)
    with kizuna().uow_factory() as uow:
        found = results.results(uow=uow, automation=key, since=since, until=until)
    comparison = found.comparison
    messaged, held_out = comparison.messaged, comparison.held_out
    rate, revenue = comparison.purchase_rate, comparison.revenue_per_customer
    charts = {
        "rate": automation_charts.chart(
            messaged=messaged.purchase_rate or 0,
            held_out=held_out.purchase_rate or 0,
            difference=rate,
            show=_percent,
            show_difference=_points,
        ),
        "revenue": automation_charts.chart(
            messaged=messaged.revenue_per_customer or 0,
            held_out=held_out.revenue_per_customer or 0,
            difference=revenue,
            show=_yen,
            show_difference=_signed_yen,
        ),
    }
    locale = current_locale()
    endpoint, arguments = results_endpoint
    return render_template(
        "console/automation_results.html",
        key=key,
        title=title,
        back=back,
        settings_url=settings_url,
        period_urls={period: url_for(endpoint, days=period, **arguments) for period in PERIODS},
        coupon=coupon,
        days=days,
        periods=PERIODS,
        found=found,
        rows=[{"day": i18n.format_day(row.day, locale), "counts": row, **_row_reasons(row)} for row in found.days],
        totals={"counts": found.totals, **_row_reasons(found.totals)},
        groups=[
            {
                "name": _("Got the message"),
                "group": messaged,
                "rate": _percent(messaged.purchase_rate),
                "revenue": _yen(messaged.revenue_per_customer),
            },
            {
                "name": _("Hold-out group"),
                "group": held_out,
                "rate": _percent(held_out.purchase_rate),
                "revenue": _yen(held_out.revenue_per_customer),
            },
        ],
        rate=rate,
        revenue=revenue,
        rate_text=None if rate is None else (_points(rate.estimate), _points(rate.low), _points(rate.high)),
        revenue_text=None
        if revenue is None
        else (_signed_yen(revenue.estimate), _signed_yen(revenue.low), _signed_yen(revenue.high)),
        rate_verdict=_verdict(rate, measure="rate"),
        revenue_verdict=_verdict(revenue, measure="revenue"),
        charts=charts,
    )


def _row_reasons(counts: results.DayCounts) -> dict:
    return {
        "held": _reasons(counts.held),
        "skipped": _reasons(counts.skipped),
        "cancelled": _reasons(counts.cancelled),
        "failed": counts.failed.most_common(),
    }
