"""Automation messages on LINE: the render callable crm_core.automations decides with, and the preview.

The marketer's wording (if any) is filled in a Jinja2 sandbox and placed in the Flex bubble of
templates/messages/automation_<key>/; without it the bubble says the built-in, translated words.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bot.i18n import format_clock, format_day, format_number, format_yen, gettext, normalize_locale
from crm_core import automations, outbox, shop
from crm_core.automations import Recipient
from crm_core.uow import UnitOfWork

log = logging.getLogger("kizuna.automations")


def template_name(key: str) -> str:
    return "automation_flow" if automations.flow_id_of(key) is not None else f"automation_{key}"


def _dates(context: dict) -> dict:
    """The context with its ISO dates as dates (the decision keeps them as text)."""
    out = dict(context)
    for field in ("last_purchased_on", "expires_on"):
        if isinstance(out.get(field), str):
            out[field] = date.fromisoformat(out[field])
    if isinstance(out.get("starts_at"), str):  # a booking's start, in its store's zone
        out["starts_at"] = datetime.fromisoformat(out["starts_at"])
    return out


def wording_values(key: str, *, name: str, shop_name: str, context: dict, locale: str) -> dict:
    """What the marketer's placeholders stand for, formatted for `locale`."""
    values = {"name": name, "shop": shop_name}
    if key == "first_purchase":
        values["store"] = context.get("store") or shop_name
    elif key == "replenishment":
        values.update(
            product=context["product"],
            date=format_day(context["last_purchased_on"], locale),
            days=context["interval_days"],
        )
    elif key == "recommendations":
        items = context.get("items") or []
        values["product"] = items[0]["name"] if items else ""
    elif key == "points_expiring":
        values.update(points=format_number(context["points"], locale), date=format_day(context["expires_on"], locale))
    elif key == "booking_reminder":
        starts_at, zone = context["starts_at"], ZoneInfo(context["zone"])
        values.update(
            store=context["store"],
            menu=context["menu"],
            date=format_day(starts_at, locale, zone),
            time=format_clock(starts_at, locale, zone),
        )
    elif key == "birthday":
        values["month"] = format_date(date(2000, context["month"], 1), "MMMM", locale=locale)
    elif automations.flow_id_of(key) is not None:
        values.update(
            coupon=context["title"],
            benefit=benefit_text(context, locale),
            date=format_day(context["expires_on"], locale),
        )
    return values


def benefit_text(context: dict, locale: str) -> str:
    """What a coupon gives, in words, as its bubble says it."""
    kind, value, cap, item = context["kind"], context["value"], context.get("cap"), context.get("item")
    if kind == "yen_off":
        return gettext(locale, "%(amount)s off", amount=format_yen(value, locale))
    if kind == "percent_off" and cap:
        return gettext(locale, "%(percent)s%% off (up to %(cap)s)", percent=value, cap=format_yen(cap, locale))
    if kind == "percent_off":
        return gettext(locale, "%(percent)s%% off", percent=value)
    if kind == "free_item":
        return gettext(locale, "Free: %(item)s", item=item)
    return gettext(locale, "Gift: %(item)s", item=item)


CACHED = 20_000  # distinct messages kept per run


def render_for(services, uow: UnitOfWork):
    """The render callable of crm_core.automations.run_due: (key, recipient, context, locale, templates) -> JSON.

    Returns the LINE messages as JSON text with `outbox.FILL` where the name goes: customers who get
    the same message but for their name share one Jinja2 render and one stored body, and each
    customer's name is put in at delivery.
    """
    shop_name = shop.get_profile(uow=uow).name
    default_locale = services.settings.locale
    cache: dict[tuple, str] = {}

    def render(
        key: str, *, recipient: Recipient, context: dict, locale: str | None, templates: dict | None, share=None
    ):
        locale = normalize_locale(locale, default_locale)
        text = ((templates or {}).get(locale) or {}).get("text")
        cache_key = (key, locale, text, share)
        if share is None:
            cache_key = (key, locale, text, repr({field: v for field, v in context.items() if field != "purchase_id"}))
        rendered = cache.get(cache_key)
        if rendered is None:
            shared = {field: value for field, value in context.items() if field != "purchase_id"}
            rendered = cache[cache_key] = json.dumps(
                _render(key, name=outbox.FILL, context=_dates(shared), locale=locale, text=text),
                ensure_ascii=False,
                separators=(",", ":"),  # compact: a hundred thousand of them are stored
            )
            if len(cache) > CACHED:
                cache.clear()
        return rendered

    def _render(key: str, *, name: str, context: dict, locale: str, text: str | None) -> list[dict]:
        intro = None
        if text:
            values = wording_values(key, name=name, shop_name=shop_name, context=context, locale=locale)
            try:
                intro = automations.render_wording(text, values)
            except Exception:  # checked on save; should it still fail, the built-in wording goes instead
                log.exception("automation %s: the saved wording could not be rendered", key)
        return services.renderer.render(
            template_name(key), locale=locale, shop_name=shop_name, name=name, intro=intro, **context
        )

    return render


def preview(services, uow: UnitOfWork, key: str, customer_id: int, templates=None) -> list[dict]:
    """What this customer would get from `key` now, in their language, with `templates` or the saved wording.

    Built from their own history even when nothing is due for them now (NotFound for an unknown or
    erased customer); `templates` is validated as on save (InvalidInput).
    """
    zone = services.settings.zone
    recipient, context = automations.sample(uow=uow, key=key, customer_id=customer_id, zone=zone)
    if templates is not None:
        templates = automations.check_wording(key, templates)
    else:
        templates = automations.get_automation(uow=uow, key=key).templates
    render = render_for(services, uow)
    text = render(key, recipient=recipient, context=context, locale=recipient.locale, templates=templates)
    return json.loads(outbox.filled(text, outbox.escaped(recipient.name)))


def preview_flow(services, uow: UnitOfWork, spec, customer_id: int | None = None, recipient=None) -> list[dict]:
    """What this customer (or `recipient`: a marketer's test send) would get from a (checked) coupon flow spec
    now, in their language: its coupon as it would be issued today and the spec's wording (or the built-in one)."""
    from crm_core import customers  # noqa: PLC0415
    from crm_core.coupons.benefits import expires_at  # noqa: PLC0415
    from crm_core.models import Coupon  # noqa: PLC0415

    zone = services.settings.zone
    if recipient is None:
        customer = customers.get_customer(uow=uow, customer_id=customer_id)
        identity = customers.line_identity_of(uow=uow, customer_id=customer_id)
        locale = (identity.language if identity else None) or customer.locale
        recipient = Recipient(customer_id=customer.id, name=customer.name, locale=locale)
    coupon = uow.session.get(Coupon, spec.coupon_id)
    now = uow.now()
    until = expires_at(issued_at=now, zone=zone, valid_days=coupon.valid_days, valid_until=coupon.valid_until)
    context = automations.flow_context(coupon, until, zone)
    render = render_for(services, uow)
    text = render("flow:0", recipient=recipient, context=context, locale=recipient.locale, templates=spec.templates)
    return json.loads(outbox.filled(text, outbox.escaped(recipient.name)))
