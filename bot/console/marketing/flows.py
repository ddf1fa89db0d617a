"""Marketing: segments (a rule builder with the size and a sample as it is edited) and coupon flows.

Segments are edited as rows of (field, operator, value, days); "Check" shows the size and a sample
without saving. A flow's page saves it, previews its message for a customer, counts who would get it
now (a dry run: nothing is written), runs it now (then delivers) and links to its results, which are the
push engine's (sent, skipped by reason, the hold-out comparison) plus its coupon's issued and redeemed.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from bot.console.automations import EDITOR_ROLE, _error_text, _run_and_deliver, readable
from bot.console.session import current_user, kizuna, login_required
from bot.i18n import format_day, format_yen
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import automations, customers, flows, segments, staff
from crm_core.errors import N_, InvalidFields, InvalidInput, KizunaError
from crm_core.models import Coupon

ROWS = 6  # condition rows on the segment form (empty ones are ignored)
OPS = {
    ">=": N_("at least"),
    "<=": N_("at most"),
    "=": N_("exactly"),
    "in": N_("is one of"),
    "not_in": N_("is none of"),
    "is": N_("is"),
}
TRIGGERS = {
    "member_joined": N_("On becoming a member"),
    "nth_purchase": N_("On the Nth purchase"),
    "birthday_month": N_("In the birthday month"),
    "lapsed": N_("N days after the last purchase (win-back)"),
    "points_threshold": N_("On reaching a points balance"),
    "tier_reached": N_("On reaching a tier"),
    "scheduled": N_("On a date, or a day every month"),
}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/marketing/segments", view_func=segment_list)
    bp.add_url_rule("/marketing/segments/new", view_func=segment_edit, methods=["GET", "POST"])
    bp.add_url_rule("/marketing/segments/<int:segment_id>", view_func=segment_edit, methods=["GET", "POST"])
    bp.add_url_rule("/marketing/flows", view_func=flow_list)
    bp.add_url_rule("/marketing/flows/new", view_func=flow_edit, methods=["GET", "POST"])
    bp.add_url_rule("/marketing/flows/<int:flow_id>", view_func=flow_edit, methods=["GET", "POST"])
    bp.add_url_rule("/marketing/flows/<int:flow_id>/run", view_func=run_flow, methods=["POST"])
    bp.add_url_rule("/marketing/flows/<int:flow_id>/results", view_func=flow_results)


def _field_errors(error: KizunaError) -> dict[str, str]:
    if isinstance(error, InvalidFields):
        return {name: _error_text(wrong) for name, wrong in error.errors.items()}
    return {"form": _error_text(error)}


# --- segments -------------------------------------------------------------------------------------------------


@login_required(role=EDITOR_ROLE)
def segment_list():
    """Every saved segment with its size now."""
    services = kizuna()
    with services.uow_factory() as uow:
        rows = [
            {"segment": s, "size": segments.size(uow=uow, rules=s.rules, zone=services.settings.zone)}
            for s in segments.list_segments(uow=uow)
        ]
    return render_template("console/marketing/segments.html", rows=rows, section="console.segment_list")


def _rows_of(rules: dict | None) -> list[dict]:
    rows = []
    for condition in (rules or {}).get("conditions", []):
        value = condition.get("value")
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        rows.append(
            {
                "field": condition.get("field", ""),
                "op": condition.get("op", ""),
                "value": "" if value is None else str(value),
                "days": "" if condition.get("days") is None else str(condition["days"]),
            }
        )
    return rows + [{"field": "", "op": "", "value": "", "days": ""}] * max(0, ROWS - len(rows))


def _posted_rules() -> tuple[dict, list[dict]]:
    """The rules the form says (values read by each field's kind), and the rows as typed."""
    form = request.form
    rows, conditions = [], []
    for index in range(ROWS):
        row = {name: form.get(f"{name}_{index}", "").strip() for name in ("field", "op", "value", "days")}
        rows.append(row)
        if not row["field"]:
            continue
        spec = segments.FIELDS.get(row["field"])
        condition: dict = {"field": row["field"], "op": row["op"]}
        text = unicodedata.normalize("NFKC", row["value"])
        if spec is None or spec.kind == "list":
            condition["value"] = [part.strip() for part in text.replace("、", ",").split(",") if part.strip()]
        elif spec.kind == "bool":
            condition["value"] = {"yes": True, "no": False}.get(text.lower(), text)
        else:
            digits = text.replace(",", "").replace("¥", "").strip()
            condition["value"] = int(digits) if digits.isdigit() else text
        if spec is not None and spec.window:
            days = unicodedata.normalize("NFKC", row["days"])
            condition["days"] = int(days) if days.isdigit() else None
        conditions.append(condition)
    return {"match": form.get("match", "all"), "conditions": conditions}, rows


def _segment_page(segment_id, values, *, errors=None, checked=None, status=200):
    return render_template(
        "console/marketing/segment_edit.html",
        section="console.segment_list",
        segment_id=segment_id,
        values=values,
        errors=errors or {},
        checked=checked,
        fields=[(name, _(spec.label), spec) for name, spec in segments.FIELDS.items()],
        ops=[(op, _(label)) for op, label in OPS.items()],
        age_bands=list(segments.AGE_BANDS),
    ), status


@login_required(role=EDITOR_ROLE)
def segment_edit(segment_id: int | None = None):
    """A segment's rules as rows; "Check" shows its size and a sample, "Save" saves (a mistake saves nothing)."""
    services = kizuna()
    zone = services.settings.zone
    if request.method == "GET":
        if segment_id is None:
            return _segment_page(None, {"name": "", "match": "all", "rows": _rows_of(None)})
        with services.uow_factory() as uow:
            found = segments.get_segment(uow=uow, segment_id=segment_id)
            values = {"name": found.name, "match": found.rules["match"], "rows": _rows_of(found.rules)}
        return _segment_page(segment_id, values)
    rules, rows = _posted_rules()
    values = {"name": request.form.get("name", ""), "match": rules["match"], "rows": rows}
    try:
        with services.uow_factory() as uow:
            if request.form.get("check"):
                checked = {
                    "size": segments.size(uow=uow, rules=rules, zone=zone),
                    "sample": [
                        {
                            "name": m.name,
                            "number": m.member_number,
                            "last": format_day(m.last_purchase_at, current_locale(), zone)
                            if m.last_purchase_at
                            else "—",
                        }
                        for m in segments.sample(uow=uow, rules=rules, zone=zone)
                    ],
                }
                return _segment_page(segment_id, values, checked=checked)
            saved = segments.save_segment(
                uow=uow, name=values["name"], rules=rules, segment_id=segment_id, staff_user_id=current_user().id
            )
            uow.commit()
            saved_id = saved.id
    except KizunaError as error:
        return _segment_page(segment_id, values, errors=_field_errors(error), status=400)
    flash(_("The segment was saved."), "info")
    return redirect(url_for("console.segment_edit", segment_id=saved_id))


# --- flows ----------------------------------------------------------------------------------------------------


@login_required(role=EDITOR_ROLE)
def flow_list():
    """Every coupon flow: trigger, audience, coupon, hold-out, dates, paused."""
    with kizuna().uow_factory() as uow:
        names = {s.id: s.name for s in segments.list_segments(uow=uow)}
        rows = [
            {
                "flow": flow,
                "trigger": _(TRIGGERS[flow.trigger]),
                "segment": names.get(flow.segment_id, _("Everyone")),
                "coupon": uow.session.get(Coupon, flow.coupon_id).title,
            }
            for flow in flows.list_flows(uow=uow)
        ]
    return render_template("console/marketing/flows.html", rows=rows, section="console.flow_list")


PARAMS = ("n", "days", "points", "tier", "on", "day_of_month")


def _flow_values(flow) -> dict:
    templates = flow.templates or {} if flow else {}
    params = flow.params if flow else {}
    return {
        "name": flow.name if flow else "",
        "trigger": flow.trigger if flow else "lapsed",
        **{name: str(params.get(name, "")) for name in PARAMS},
        "segment_id": str(flow.segment_id or "") if flow else "",
        "coupon_id": str(flow.coupon_id) if flow else "",
        "holdout_percent": str(flow.holdout_percent) if flow else "10",
        "starts_on": flow.starts_on.isoformat() if flow and flow.starts_on else "",
        "ends_on": flow.ends_on.isoformat() if flow and flow.ends_on else "",
        "paused": flow.paused if flow else False,
        "text_ja": (templates.get("ja") or {}).get("text", ""),
        "text_en": (templates.get("en") or {}).get("text", ""),
        "member_number": "",
    }


def _posted_flow() -> dict:
    form = request.form
    values = {name: form.get(name, "").strip() for name in ("name", "trigger", *PARAMS, "segment_id", "coupon_id")}
    values.update(
        {name: form.get(name, "").strip() for name in ("holdout_percent", "starts_on", "ends_on", "member_number")}
    )
    values.update(paused=form.get("paused") == "on", text_ja=form.get("text_ja", ""), text_en=form.get("text_en", ""))
    return values


def _number(text: str):
    text = unicodedata.normalize("NFKC", text).replace(",", "").removesuffix("%").strip()
    return int(text) if text.isdigit() else (text or None)


def _day(text: str, field: str, errors: dict) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(unicodedata.normalize("NFKC", text))
    except ValueError:
        errors[field] = _("Enter a date.")
        return None


def _spec(values: dict) -> tuple[flows.FlowSpec, dict]:
    errors: dict[str, str] = {}
    params = {name: _number(values[name]) for name in ("n", "days", "points", "day_of_month") if values[name]}
    if values["tier"]:
        params["tier"] = values["tier"]
    if values["on"]:
        params["on"] = values["on"]
    templates = {locale: {"text": values[f"text_{locale}"].strip()} for locale in ("ja", "en")}
    spec = flows.FlowSpec(
        name=values["name"],
        trigger=values["trigger"],
        params=params,
        coupon_id=_number(values["coupon_id"]) or 0,
        segment_id=_number(values["segment_id"]) if values["segment_id"] else None,
        templates=templates if any(t["text"] for t in templates.values()) else None,
        holdout_percent=_number(values["holdout_percent"]) if values["holdout_percent"] else 0,
        starts_on=_day(values["starts_on"], "starts_on", errors),
        ends_on=_day(values["ends_on"], "ends_on", errors),
        paused=values["paused"],
    )
    return spec, errors


def _flow_page(flow_id, values, *, errors=None, preview=None, dry_run=None, test_sent=False, status=200):
    services = kizuna()
    with services.uow_factory() as uow:
        user = staff.get_staff_user(uow=uow, staff_user_id=current_user().id)
        segment_choices = [(s.id, s.name) for s in segments.list_segments(uow=uow)]
        coupon_choices = [(c.id, c.title) for c in flows.flow_coupons(uow=uow)]
        suggestions = [(c.member_number, c.name) for c in automations.audience.suggested_customers(uow=uow)]
    return render_template(
        "console/marketing/flow_edit.html",
        section="console.flow_list",
        flow_id=flow_id,
        values=values,
        errors=errors or {},
        preview=preview,
        dry_run=dry_run,
        triggers=[(key, _(label)) for key, label in TRIGGERS.items()],
        segments=segment_choices,
        coupons=coupon_choices,
        placeholders=automations.FLOW.placeholders,
        suggestions=suggestions,
        tiers=flows.TIERS,
        test_sent=test_sent,
        line_linked=bool(user.line_user_id),
        link_code=None
        if user.line_user_id
        else staff.line_link_code(user=user, secret=services.settings.secret_key, now=services.uow_factory.clock.now()),
    ), status


@login_required(role=EDITOR_ROLE)
def flow_edit(flow_id: int | None = None):
    """A flow's settings; Save, Preview for a customer, or Dry run (who would get it now), without sending."""
    services = kizuna()
    if request.method == "GET":
        flow = None
        if flow_id is not None:
            with services.uow_factory() as uow:
                flow = flows.get_flow(uow=uow, flow_id=flow_id)
                values = _flow_values(flow)
            return _flow_page(flow_id, values)
        return _flow_page(None, _flow_values(None))
    values = _posted_flow()
    action = request.form.get("action", "save")
    spec, errors = _spec(values)
    try:
        if errors:
            raise InvalidFields({})
        shown = {}
        with services.uow_factory() as uow:  # ended before the page is drawn: SQLite has one writer
            if action == "preview":
                shown["preview"] = _preview(services, uow, spec.check(uow), values["member_number"])
            elif action == "test_send":
                shown["test_sent"] = _test_send(services, uow, spec.check(uow))
                uow.commit()
            elif action == "dry_run":
                shown["dry_run"] = flows.dry_run(
                    uow=uow, spec=spec.check(uow), zone=services.settings.zone, flow_id=flow_id
                )
            else:
                saved = flows.save_flow(uow=uow, spec=spec, flow_id=flow_id, staff_user_id=current_user().id)
                uow.commit()
                saved_id = saved.id
        if shown.get("test_sent"):
            services.delivery.deliver_due(max_seconds=TEST_SEND_SECONDS)
        if shown:
            return _flow_page(flow_id, values, **shown)
    except KizunaError as error:
        errors.update(_field_errors(error) if not isinstance(error, InvalidFields) or error.errors else {})
        return _flow_page(flow_id, values, errors=errors, status=400)
    flash(_("The flow was saved."), "info")
    return redirect(url_for("console.flow_edit", flow_id=saved_id))


TEST_SEND_SECONDS = 5


def _test_send(services, uow, spec: flows.FlowSpec) -> bool:
    """The flow's message as a customer would get it, to the marketer's own LINE account (no coupon is issued)."""
    from bot import automation_messages
    from crm_core import outbox
    from crm_core.automations import Recipient

    user = staff.get_staff_user(uow=uow, staff_user_id=current_user().id)
    if not user.line_user_id:
        raise InvalidFields({"test_send": InvalidInput(N_("Link your LINE account first (below)."))})
    recipient = Recipient(customer_id=0, name=user.display_name or user.email, locale=current_locale())
    messages = automation_messages.preview_flow(services, uow, spec, recipient=recipient)
    outbox.enqueue(uow=uow, address=user.line_user_id, messages=messages, category="transactional")
    return True


def _preview(services, uow, spec: flows.FlowSpec, member_number: str) -> dict:
    from bot import automation_messages

    customer = customers.get_by_member_number(uow=uow, member_number=member_number)
    if customer is None or customer.erased_at is not None:
        raise InvalidFields(
            {"member_number": InvalidInput(N_("No customer has the member number %(number)s."), number=member_number)}
        )
    messages = automation_messages.preview_flow(services, uow, spec, customer.id)
    return {"customer": customer.name, "messages": readable(messages)}


@login_required(role=EDITOR_ROLE)
def run_flow(flow_id: int):
    """Decide this flow now (paused or not), then deliver, and say what happened."""
    services = kizuna()
    with services.uow_factory() as uow:
        flows.get_flow(uow=uow, flow_id=flow_id)
    key = automations.flow_key(flow_id)

    def run():
        with services.uow_factory() as uow:
            automations.run_due(
                uow=uow, render=services.automation_render(uow), zone=services.settings.zone, keys=[key]
            )

    flash(_run_and_deliver(services, run, key=key), "info")
    return redirect(url_for("console.flow_edit", flow_id=flow_id))


@login_required(role=EDITOR_ROLE)
def flow_results(flow_id: int):
    """The push engine's results for this flow, with its coupon's issued, redeemed and the revenue they brought."""
    from bot.console.automations import results_page

    services = kizuna()
    with services.uow_factory() as uow:
        flow = flows.get_flow(uow=uow, flow_id=flow_id)
        coupon = flows.coupon_results(uow=uow, flow_id=flow_id)
        name = flow.name
    if coupon is None:
        abort(404)
    locale = current_locale()
    coupon_lines = {
        "issued": coupon.issued,
        "redeemed": coupon.redeemed,
        "rate": "—" if not coupon.issued else f"{coupon.redeemed / coupon.issued * 100:.1f}%",
        "revenue": format_yen(coupon.revenue, locale),
        "discount": format_yen(coupon.discount, locale),
    }
    return results_page(
        automations.flow_key(flow_id),
        title=name,
        back=(url_for("console.flow_list"), _("Coupon flows")),
        settings_url=url_for("console.flow_edit", flow_id=flow_id),
        results_endpoint=("console.flow_results", {"flow_id": flow_id}),
        coupon=coupon_lines,
    )
