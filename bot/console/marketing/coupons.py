"""Coupons (marketers and admins): the list with what became of each, defining and editing one (every field
checked, each mistake shown next to its field, nothing saved until all are right), stopping and resuming, and
a preview of the coupon as a customer sees it in LINE."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from bot import i18n
from bot.console.automations import readable
from bot.console.session import kizuna, login_required
from bot.flows import coupons as line_coupons
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import coupons, stores
from crm_core.coupons import codes
from crm_core.coupons.benefits import FREE_ITEM, GIFT, PERCENT_OFF, YEN_OFF
from crm_core.coupons.definitions import CLAIM, FLOW, LOTTERY, POINTS
from crm_core.errors import N_, InvalidFields, KizunaError
from crm_core.models import Coupon

ROLE = "marketer"
TEXT_FIELDS = (
    "title", "image_url", "benefit_kind", "yen_off", "percent_off", "percent_cap", "item", "item_value",
    "min_purchase", "validity", "valid_from", "valid_until", "valid_days", "stock", "per_customer_limit",
    "obtain", "points_cost", "win_percent", "code_prefix", "code_alphabet", "code_length",
)  # fmt: skip
BENEFIT_FIELD = {YEN_OFF: "yen_off", PERCENT_OFF: "percent_off", FREE_ITEM: "item_value", GIFT: "item_value"}
FORM_FIELD = {"benefit_cap": "percent_cap", "benefit_item": "item", "win_basis_points": "win_percent"}
KIND_LABELS = {
    YEN_OFF: N_("Yen off"),
    PERCENT_OFF: N_("Percent off"),
    FREE_ITEM: N_("A free item"),
    GIFT: N_("A gift"),
}
OBTAIN_LABELS = {
    CLAIM: N_("Claimed by the customer in LINE"),
    FLOW: N_("Issued by a coupon flow"),
    POINTS: N_("Exchanged for points"),
    LOTTERY: N_("A lottery in LINE"),
}
ALPHABET_LABELS = {
    codes.MIXED: N_("Letters and digits, without 0/O and 1/I"),
    codes.DIGITS: N_("Digits only"),
}
_PERCENT = re.compile(r"\d{1,3}(\.\d{1,2})?")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/marketing/coupons", view_func=coupon_list)
    bp.add_url_rule("/marketing/coupons/new", view_func=coupon_new, methods=["GET", "POST"])
    bp.add_url_rule("/marketing/coupons/<int:coupon_id>", view_func=coupon_edit, methods=["GET", "POST"])
    bp.add_url_rule("/marketing/coupons/<int:coupon_id>/stop", view_func=stop_coupon, methods=["POST"])
    bp.add_url_rule("/marketing/coupons/<int:coupon_id>/resume", view_func=resume_coupon, methods=["POST"])


def _message(error: KizunaError) -> str:
    """The domain error in the page's language (its params are already text)."""
    text = i18n.translations(current_locale()).gettext(error.message)
    return text % error.params if error.params else text


# --- how a coupon reads -------------------------------------------------------------------------------------


def _yen(amount: int) -> str:
    return i18n.format_yen(amount, current_locale())


def _day(value: date) -> str:
    return i18n.format_day(value, current_locale())


def _percent_text(basis_points: int) -> str:
    return i18n.format_number(Decimal(basis_points) / 100, current_locale()) + "%"


def benefit_text(coupon: Coupon) -> str:
    """The benefit in the words LINE shows the customer."""
    if coupon.benefit_kind == YEN_OFF:
        return _("%(amount)s off", amount=_yen(coupon.benefit_value))
    if coupon.benefit_kind == PERCENT_OFF:
        if coupon.benefit_cap:
            return _("%(percent)s%% off (up to %(cap)s)", percent=coupon.benefit_value, cap=_yen(coupon.benefit_cap))
        return _("%(percent)s%% off", percent=coupon.benefit_value)
    if coupon.benefit_kind == FREE_ITEM:
        return _("Free: %(item)s", item=coupon.benefit_item or "")
    return _("Gift: %(item)s", item=coupon.benefit_item or "")


def validity_text(coupon: Coupon) -> str:
    parts = []
    if coupon.valid_days is not None:
        parts.append(_("%(days)s days from the day it is issued", days=coupon.valid_days))
    if coupon.valid_from is not None and coupon.valid_until is not None:
        parts.append(_("%(first)s to %(last)s", first=_day(coupon.valid_from), last=_day(coupon.valid_until)))
    elif coupon.valid_until is not None:
        parts.append(_("until %(last)s", last=_day(coupon.valid_until)))
    elif coupon.valid_from is not None:
        parts.append(_("from %(first)s", first=_day(coupon.valid_from)))
    return ", ".join(parts)


def obtain_text(coupon: Coupon) -> str:
    if coupon.obtain == POINTS:
        points = i18n.format_number(coupon.points_cost or 0, current_locale())
        return _("Exchanged for %(points)s points", points=points)
    if coupon.obtain == LOTTERY:
        return _("A lottery in LINE, %(percent)s win", percent=_percent_text(coupon.win_basis_points or 0))
    return _(OBTAIN_LABELS[coupon.obtain])


def _row(coupon: Coupon, usage: coupons.Usage) -> dict:
    rate = usage.redemption_rate
    return {
        "id": coupon.id,
        "title": coupon.title,
        "active": coupon.active,
        "benefit": benefit_text(coupon),
        "minimum": _("With a purchase of %(amount)s or more", amount=_yen(coupon.min_purchase))
        if coupon.min_purchase
        else None,
        "validity": validity_text(coupon),
        "obtain": obtain_text(coupon),
        "stock_left": _("Unlimited")
        if coupon.stock is None
        else i18n.format_number(coupon.stock - coupon.issued, current_locale()),
        "usage": usage,
        "rate": "—" if rate is None else i18n.format_percent(rate, current_locale()),
    }


# --- the list -------------------------------------------------------------------------------------------------


def list_page():
    with kizuna().uow_factory() as uow:
        found = coupons.list_coupons(uow=uow, limit=1000)
        usage = coupons.usage_of(uow=uow, coupon_ids=[coupon.id for coupon in found])
        rows = [_row(coupon, usage[coupon.id]) for coupon in reversed(found)]
    return render_template("console/marketing/coupons.html", rows=rows, section="console.coupon_list")


@login_required(role=ROLE)
def coupon_list():
    """Each coupon with its benefit, validity, how it is obtained, stock left, and issued, claimed and redeemed."""
    return list_page()


# --- the form -------------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def _whole(text: str, *, blank):
    """A whole number as typed (full width, commas, ¥, 円 or % allowed); `blank` when empty; the text itself when
    it is no number, for the definition's check to name."""
    text = _plain(text).replace(",", "").removeprefix("¥").removesuffix("円").removesuffix("%").strip()
    if not text:
        return blank
    return int(text) if re.fullmatch(r"-?\d{1,12}", text) else text


def _day_value(text: str):
    text = _plain(text).replace("/", "-")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _basis_points(text: str) -> int | None:
    """A win probability typed as a percentage (12.5) in basis points (1250); None when it is not one."""
    text = _plain(text).removesuffix("%").strip()
    if not _PERCENT.fullmatch(text):
        return None
    try:
        value = Decimal(text) * 100
    except InvalidOperation:  # pragma: no cover (the pattern allows only numbers)
        return None
    return int(value) if 0 <= value <= 10_000 else None


def posted_values(form) -> dict:
    """What the form shows again: the text as typed."""
    values = {name: form.get(name, "") for name in TEXT_FIELDS}
    values["store_codes"] = form.getlist("store_codes")
    values["active"] = form.get("active") == "on"
    return values


def spec_from(values: dict) -> tuple[coupons.CouponSpec, dict[str, str]]:
    """The definition the form says, and the mistakes only the form can see (by form field)."""
    errors: dict[str, str] = {}
    kind = values["benefit_kind"]
    value = (
        _whole(values[BENEFIT_FIELD[kind]], blank=0 if kind in (FREE_ITEM, GIFT) else None)
        if kind in BENEFIT_FIELD
        else 0
    )
    dates = values["validity"] != "days"
    if dates and not _plain(values["valid_until"]):
        errors["valid_until"] = _("Give the last day the coupon is valid.")
    win = None
    if values["obtain"] == LOTTERY:
        win = _basis_points(values["win_percent"])
        if win is None:
            errors["win_percent"] = _("Enter a percentage from 0 to 100, like 12.5.")
            win = 0
    spec = coupons.CouponSpec(
        title=values["title"],
        image_url=values["image_url"],
        benefit_kind=kind,
        benefit_value=value,
        benefit_cap=_whole(values["percent_cap"], blank=None) if kind == PERCENT_OFF else None,
        benefit_item=values["item"] if kind in (FREE_ITEM, GIFT) else None,
        min_purchase=_whole(values["min_purchase"], blank=0),
        valid_days=None if dates else _whole(values["valid_days"], blank=None),
        valid_from=_day_value(values["valid_from"]),
        valid_until=_day_value(values["valid_until"]),
        stock=_whole(values["stock"], blank=None),
        per_customer_limit=_whole(values["per_customer_limit"], blank=None),
        obtain=values["obtain"],
        points_cost=_whole(values["points_cost"], blank=None) if values["obtain"] == POINTS else None,
        win_basis_points=win,
        store_codes=tuple(values["store_codes"]),
        active=values["active"],
        code_prefix=values["code_prefix"],
        code_alphabet=values["code_alphabet"],
        code_length=_whole(values["code_length"], blank=None),
    )
    return spec, errors


def field_errors(refused: InvalidFields, values: dict) -> dict[str, str]:
    """The definition's refusals by form field, in the page's language."""
    errors = {}
    for name, error in refused.errors.items():
        if name == "benefit_value":
            field = BENEFIT_FIELD.get(values["benefit_kind"], "benefit_kind")
        elif name == "valid_days" and values["validity"] != "days":
            field = "valid_until"
        else:
            field = FORM_FIELD.get(name, name)
        errors.setdefault(field, _message(error))
    if "win_percent" in errors:
        errors["win_percent"] = _("Enter a percentage from 0 to 100, like 12.5.")
    return errors


def values_of(coupon: Coupon, store_codes: list[str]) -> dict:
    """The form's text for a saved coupon."""

    def text(value) -> str:
        return "" if value is None else str(value)

    kind = coupon.benefit_kind
    win = coupon.win_basis_points
    return {
        "title": coupon.title,
        "image_url": text(coupon.image_url),
        "benefit_kind": kind,
        "yen_off": text(coupon.benefit_value) if kind == YEN_OFF else "",
        "percent_off": text(coupon.benefit_value) if kind == PERCENT_OFF else "",
        "percent_cap": text(coupon.benefit_cap),
        "item": text(coupon.benefit_item),
        "item_value": text(coupon.benefit_value) if kind in (FREE_ITEM, GIFT) else "",
        "min_purchase": text(coupon.min_purchase),
        "validity": "days" if coupon.valid_days is not None else "dates",
        "valid_from": text(coupon.valid_from and coupon.valid_from.isoformat()),
        "valid_until": text(coupon.valid_until and coupon.valid_until.isoformat()),
        "valid_days": text(coupon.valid_days),
        "stock": text(coupon.stock),
        "per_customer_limit": text(coupon.per_customer_limit),
        "obtain": coupon.obtain,
        "points_cost": text(coupon.points_cost),
        "win_percent": "" if win is None else f"{win / 100:g}",
        "code_prefix": coupon.code_prefix,
        "code_alphabet": coupon.code_alphabet,
        "code_length": text(coupon.code_length),
        "store_codes": store_codes,
        "active": coupon.active,
    }


NEW_VALUES = {
    **dict.fromkeys(TEXT_FIELDS, ""),
    "benefit_kind": YEN_OFF,
    "min_purchase": "0",
    "validity": "days",
    "valid_days": "30",
    "per_customer_limit": "1",
    "obtain": CLAIM,
    "code_alphabet": codes.MIXED,
    "code_length": str(codes.DEFAULT_LENGTH),
    "store_codes": [],
    "active": True,
}


def _form_page(values: dict, errors: dict, *, coupon: Coupon | None = None, preview=None, status: int = 200):
    with kizuna().uow_factory() as uow:
        shop_stores = [
            (store.code, store.name, store.active)
            for store in stores.list_stores(uow=uow)
            if store.active or store.code in values["store_codes"]
        ]
        usage = coupons.usage_of(uow=uow, coupon_ids=[coupon.id]).get(coupon.id) if coupon else None
    return render_template(
        "console/marketing/coupon_edit.html",
        coupon=coupon,
        row=_row(coupon, usage) if coupon else None,
        values=values,
        errors=errors,
        stores=shop_stores,
        kinds=[(kind, _(label)) for kind, label in KIND_LABELS.items()],
        ways=[(way, _(label)) for way, label in OBTAIN_LABELS.items()],
        alphabets=[(name, _(label)) for name, label in ALPHABET_LABELS.items()],
        preview=preview,
        section="console.coupon_list",
    ), status


def _save(values: dict, coupon_id: int | None) -> tuple[Coupon | None, dict[str, str]]:
    """Define or update the coupon the form says, all or nothing: (the coupon, {}) or (None, the mistakes)."""
    spec, errors = spec_from(values)
    try:
        spec = spec.check()
    except InvalidFields as refused:
        errors = {**field_errors(refused, values), **errors}
    if errors:
        return None, errors
    try:
        with kizuna().uow_factory() as uow:
            if coupon_id is None:
                coupon = coupons.define_coupon(uow=uow, spec=spec)
            else:
                changes = {name: getattr(spec, name) for name in spec.__dataclass_fields__}
                coupon = coupons.update_coupon(uow=uow, coupon_id=coupon_id, **changes)
            uow.commit()
            return coupon, {}
    except InvalidFields as refused:  # what needs the database: the stores, the stock against what was issued
        return None, field_errors(refused, values)


@login_required(role=ROLE)
def coupon_new():
    """Define a coupon; a mistake is shown next to its field, with what was typed, and nothing is saved."""
    if request.method == "GET":
        return _form_page(dict(NEW_VALUES), {})
    values = posted_values(request.form)
    coupon, errors = _save(values, None)
    if errors:
        return _form_page(values, errors, status=400)
    flash(_("The coupon %(title)s was saved.", title=coupon.title), "info")
    return redirect(url_for("console.coupon_edit", coupon_id=coupon.id))


def _coupon(coupon_id: int) -> tuple[Coupon, list[str]]:
    with kizuna().uow_factory() as uow:
        coupon = coupons.get_coupon(uow=uow, coupon_id=coupon_id)
        if coupon is None:
            abort(404)
        return coupon, coupons.store_codes_of(uow=uow, coupon=coupon)


@login_required(role=ROLE)
def coupon_edit(coupon_id: int):
    """Show a coupon with its preview in LINE; save changes (coupons already issued keep their expiry)."""
    coupon, store_codes = _coupon(coupon_id)
    if request.method == "GET":
        return _form_page(values_of(coupon, store_codes), {}, coupon=coupon, preview=_preview(coupon))
    values = posted_values(request.form)
    saved, errors = _save(values, coupon_id)
    if errors:
        return _form_page(values, errors, coupon=coupon, preview=_preview(coupon), status=400)
    flash(_("The coupon %(title)s was saved.", title=saved.title), "info")
    return redirect(url_for("console.coupon_edit", coupon_id=coupon_id))


def _set_active(coupon_id: int, active: bool):
    with kizuna().uow_factory() as uow:
        if coupons.get_coupon(uow=uow, coupon_id=coupon_id) is None:
            abort(404)
        coupon = coupons.set_active(uow=uow, coupon_id=coupon_id, active=active)
        title = coupon.title
        uow.commit()
    if active:
        flash(_("%(title)s is handed out again.", title=title), "info")
    else:
        flash(_("%(title)s is stopped: nobody gets it any more; coupons already held stay usable until they expire.",
                title=title), "info")  # fmt: skip
    return redirect(url_for("console.coupon_edit", coupon_id=coupon_id))


@login_required(role=ROLE)
def stop_coupon(coupon_id: int):
    """Stop handing a coupon out; the coupons customers hold stay usable until they expire."""
    return _set_active(coupon_id, False)


@login_required(role=ROLE)
def resume_coupon(coupon_id: int):
    """Hand a stopped coupon out again."""
    return _set_active(coupon_id, True)


# --- the preview ----------------------------------------------------------------------------------------------


def _preview(coupon: Coupon) -> list[dict]:
    """The coupon's bubble in the `クーポン` carousel, in the page's language: to get (unless only flows give it)
    and once held, as readable lines."""
    services = kizuna()
    now = services.uow_factory.clock.now()
    zone = services.settings.zone
    last = coupons.expires_at(issued_at=now, zone=zone, valid_days=coupon.valid_days, valid_until=coupon.valid_until)
    shown = []
    for state, messages in line_coupons.preview(
        services.renderer, coupon, locale=current_locale(), last_day=last - timedelta(microseconds=1)
    ):
        for message in readable(messages):
            shown.append({"state": state, **message})
    return shown
