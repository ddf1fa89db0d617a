"""Loyalty program settings: points per yen (on the yen paid or the whole total), tiers, validity, pending days,
stamp card and the coupon its reward is (marketers and admins)."""

from __future__ import annotations

import unicodedata

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bot.console.session import current_user, kizuna, login_required
from bot.web_i18n import gettext as _
from crm_core import coupons, loyalty, staff
from crm_core.errors import N_, InvalidInput, KizunaError

EDITOR_ROLE = "marketer"
SPARE_TIER_ROWS = 2
MAX_TIERS = 10
FIELD_LABELS = {
    "yen_per_point": N_("Yen per point unit"),
    "points_per_unit": N_("Points per unit"),
    "validity_days": N_("Days points stay valid"),
    "pending_days": N_("Days before points can be used"),
    "stamp_goal": N_("Stamps for a reward"),
    "stamp_reward_days": N_("Days a reward stays valid"),
    "stamp_reward_coupon_id": N_("Reward coupon"),
    "min_spend": N_("Minimum spend"),
    "multiplier_pct": N_("Multiplier"),
}
_NUMBERS = ("yen_per_point", "points_per_unit", "validity_days", "pending_days", "stamp_goal", "stamp_reward_days")
_TEXTS = ("mode", "validity_kind", "stamp_reward_title", "earn_on")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/program", view_func=program_settings, methods=["GET", "POST"])
    bp.context_processor(_program_context)


def _program_context() -> dict:
    user = current_user()
    return {"can_edit_program": user is not None and staff.has_role(user, EDITOR_ROLE)}


def _number(text: str, what: str) -> int:
    text = unicodedata.normalize("NFKC", text or "").strip().replace(",", "").removeprefix("¥").removesuffix("%")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InvalidInput(N_("%(what)s must be a whole number above zero."), what=what)
    return int(text)


def _values_from_form(form) -> dict:
    """What the form shows again after an error: the text as typed."""
    values = {name: form.get(name, "") for name in (*_NUMBERS, *_TEXTS)}
    values["earn_on"] = form.get("earn_on", loyalty.Program.earn_on)  # a form from before the setting: the default
    values["stamp_reward_coupon_id"] = form.get("stamp_reward_coupon_id", "")
    rows = zip(form.getlist("tier_name"), form.getlist("tier_min_spend"), form.getlist("tier_multiplier"), strict=False)
    values["tiers"] = [{"name": n, "min_spend": m, "multiplier_pct": p} for n, m, p in list(rows)[:MAX_TIERS]]
    return values


def program_from_form(values: dict) -> loyalty.Program:
    """A checked Program from the form's text; InvalidInput naming the field otherwise."""
    data = {name: _number(values[name], name) for name in _NUMBERS}
    data.update({name: values[name].strip() for name in _TEXTS})
    if not data["stamp_reward_title"]:
        raise InvalidInput(N_("The stamp card reward needs a title."))
    data["stamp_reward_title"] = data["stamp_reward_title"][:200]
    chosen = str(values.get("stamp_reward_coupon_id") or "").strip()
    data["stamp_reward_coupon_id"] = _number(chosen, "stamp_reward_coupon_id") if chosen else None
    tiers = []
    for row in values["tiers"]:
        if not any(str(value).strip() for value in row.values()):
            continue
        tiers.append(
            {
                "name": row["name"].strip()[:20],
                "min_spend": _number(row["min_spend"], "min_spend"),
                "multiplier_pct": _number(row["multiplier_pct"], "multiplier_pct"),
            }
        )
    data["tiers"] = tiers
    return loyalty.program_from_dict(data)


def _message(error: KizunaError) -> str:
    params = dict(error.params)
    if params.get("what") in FIELD_LABELS:
        params["what"] = _(FIELD_LABELS[params["what"]])
    return _(error.message, **params)


def _page(values: dict, *, error: str | None = None, status: int = 200):
    spare = [{"name": "", "min_spend": "", "multiplier_pct": ""}] * SPARE_TIER_ROWS
    values = dict(values, tiers=list(values["tiers"]) + spare)
    with kizuna().uow_factory() as uow:
        offered = coupons.list_coupons(uow=uow, active_only=True, limit=500)
    return render_template("console/program.html", values=values, reward_coupons=offered, error=error), status


@login_required(role=EDITOR_ROLE)
def program_settings():
    """Show and change the loyalty program; invalid values change nothing."""
    if request.method == "GET":
        with kizuna().uow_factory() as uow:
            program = loyalty.get_program(uow=uow)
        return _page(program.as_dict())
    values = _values_from_form(request.form)
    try:
        program = program_from_form(values)
        with kizuna().uow_factory() as uow:
            if program.stamp_reward_coupon_id is not None:
                coupons.check_coupon(uow=uow, coupon_id=program.stamp_reward_coupon_id)
            loyalty.save_program(uow=uow, program=program)
            uow.commit()
    except KizunaError as error:
        return _page(values, error=_message(error), status=400)
    flash(_("The loyalty program was saved."), "info")
    return redirect(url_for("console.program_settings"))
