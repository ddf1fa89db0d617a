"""The built-in automations, their switches, hold-out shares and wording, and the weekly cap."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import select

from crm_core import shop
from crm_core.errors import N_, InvalidInput, NotFound
from crm_core.models import Automation
from crm_core.uow import UnitOfWork

LOCALES = ("ja", "en")
WEEKLY_CAP_KEY = "automations.weekly_cap"
DEFAULT_WEEKLY_CAP = 2
MAX_WEEKLY_CAP = 14
DEFAULT_HOLDOUT_PERCENT = 10
MAX_HOLDOUT_PERCENT = 50
MAX_WORDING = 500  # characters of the marketer's text per language


@dataclass(frozen=True)
class AutomationDefinition:
    key: str
    title: str  # N_() message id
    description: str  # N_() message id
    placeholders: tuple[str, ...]  # what the marketer's wording may use, e.g. {{ name }}
    # a reminder the customer asked for (a booking's): on unless switched off, no hold-out, no weekly cap,
    # no consent or opt-out check (blocking only), delivered as `transactional` at its own time
    transactional: bool = False


AUTOMATIONS: dict[str, AutomationDefinition] = {
    d.key: d
    for d in (
        AutomationDefinition(
            "first_purchase",
            N_("Thank-you after a first purchase"),
            N_("Thanks a customer on LINE as soon as their first purchase is recorded."),
            ("name", "shop", "store"),
        ),
        AutomationDefinition(
            "replenishment",
            N_("Replenishment reminder"),
            N_(
                "Reminds a customer a couple of days before a product they buy regularly probably runs out "
                "(from their own repurchase interval, else the product's typical one)."
            ),
            ("name", "shop", "product", "date", "days"),
        ),
        AutomationDefinition(
            "recommendations",
            N_("You might also like"),
            N_(
                "A few days after a purchase, up to 3 products that customers with similar baskets bought, "
                "each with the reason; never something the customer bought recently."
            ),
            ("name", "shop", "product"),
        ),
        AutomationDefinition(
            "points_expiring",
            N_("Points about to expire"),
            N_("Warns a customer 7 days before some of their points expire, with the amount and the date."),
            ("name", "shop", "points", "date"),
        ),
        AutomationDefinition(
            "birthday",
            N_("Birthday message"),
            N_("Congratulates a customer once a year in their birthday month, when the profile has a birthday."),
            ("name", "shop", "month"),
        ),
        AutomationDefinition(
            "booking_reminder",
            N_("Booking reminder"),
            N_(
                "Reminds a customer of their booking at 18:00 the day before and two hours before "
                "(a service message: no hold-out or weekly cap, never to a customer who blocked the account)."
            ),
            ("name", "shop", "store", "menu", "date", "time"),
            transactional=True,
        ),
    )
}

# a coupon flow (crm_core.flows) is decided as the automation `flow:<id>`, with this definition's placeholders
FLOW_PREFIX = "flow:"
FLOW = AutomationDefinition(
    "flow",
    N_("Coupon flow"),
    N_("A message with a coupon, on the flow's trigger, to its segment."),
    ("name", "shop", "coupon", "benefit", "date"),
)


def flow_key(flow_id: int) -> str:
    """A flow's automation key: in its decisions, hold-outs, outbox dedupe keys and results."""
    return f"{FLOW_PREFIX}{flow_id}"


def flow_id_of(key: str) -> int | None:
    """The flow id in an automation key, or None when it is not a flow's."""
    number = key[len(FLOW_PREFIX) :] if key.startswith(FLOW_PREFIX) else ""
    return int(number) if number.isdigit() else None


_SANDBOX = SandboxedEnvironment(autoescape=False)  # noqa: S701  (plain text placed in LINE JSON by |tojson)


def check_definition(key: str) -> AutomationDefinition:
    definition = FLOW if key == "flow" or flow_id_of(key) is not None else AUTOMATIONS.get(key)
    if definition is None:
        raise NotFound(N_("No automation %(key)s."), key=key)
    return definition


def render_wording(text: str, values: dict) -> str:
    """The marketer's wording with its placeholders filled (sandboxed: a template cannot reach our code)."""
    return _SANDBOX.from_string(text).render(**values).strip()


def check_wording(key: str, templates: dict | None) -> dict | None:
    """Validate the marketer's wording for `key`; returns it cleaned (None: the built-in wording).

    Each language's text may use only the automation's placeholders; empty texts fall back to the
    built-in wording for that language.
    """
    definition = check_definition(key)
    if templates is None:
        return None
    if not isinstance(templates, dict) or set(templates) - set(LOCALES):
        raise InvalidInput(N_("The wording must be given per language (ja, en)."))
    cleaned = {}
    for locale in LOCALES:
        entry = templates.get(locale) or {}
        text = (entry.get("text") if isinstance(entry, dict) else None) or ""
        text = text.strip()
        if not text:
            continue
        if len(text) > MAX_WORDING:
            raise InvalidInput(N_("The wording may be at most %(count)s characters."), count=MAX_WORDING)
        try:
            parsed = _SANDBOX.parse(text)
        except TemplateSyntaxError as error:
            raise InvalidInput(
                N_("The wording (%(locale)s) has a mistake on line %(line)s: %(error)s"),
                locale=locale,
                line=error.lineno,
                error=error.message or "",
            ) from None
        unknown = sorted(meta.find_undeclared_variables(parsed) - set(definition.placeholders))
        if unknown:
            raise InvalidInput(
                N_("The wording (%(locale)s) uses {{ %(name)s }}, which this message does not have. Use: %(known)s"),
                locale=locale,
                name=unknown[0],
                known=", ".join("{{ " + name + " }}" for name in definition.placeholders),
            )
        try:
            render_wording(text, {name: "x" for name in definition.placeholders})
        except (SecurityError, UndefinedError, TypeError, ValueError) as error:
            raise InvalidInput(
                N_("The wording (%(locale)s) cannot be used: %(error)s"), locale=locale, error=str(error)
            ) from None
        cleaned[locale] = {"text": text}
    return cleaned or None


def _default(key: str) -> Automation:
    """An automation's settings until first changed: off with a 10% hold-out; a transactional one on, none."""
    if AUTOMATIONS[key].transactional:
        return Automation(key=key, enabled=True, holdout_percent=0)
    return Automation(key=key, enabled=False, holdout_percent=DEFAULT_HOLDOUT_PERCENT)


def is_transactional(key: str) -> bool:
    return key in AUTOMATIONS and AUTOMATIONS[key].transactional


def get_automation(*, uow: UnitOfWork, key: str) -> Automation | None:
    """The automation's settings (a row is made on first change; until then the defaults)."""
    if key not in AUTOMATIONS:
        return None
    row = uow.session.get(Automation, key)
    return row if row is not None else _default(key)


def enabled_keys(*, uow: UnitOfWork) -> list[str]:
    """The automations switched on (the transactional ones until switched off), in the order of AUTOMATIONS."""
    rows = {row.key: row.enabled for row in uow.session.exec(select(Automation))}
    return [key for key in AUTOMATIONS if rows.get(key, AUTOMATIONS[key].transactional)]


def list_automations(*, uow: UnitOfWork) -> list[Automation]:
    """Every built-in automation's settings, in the order of AUTOMATIONS."""
    rows = {row.key: row for row in uow.session.exec(select(Automation))}
    return [rows.get(key) or _default(key) for key in AUTOMATIONS]


_UNSET = object()


def update_automation(
    *,
    uow: UnitOfWork,
    key: str,
    enabled: bool | None = None,
    holdout_percent: int | None = None,
    templates=_UNSET,
    by: int | None = None,
) -> Automation:
    """Change what is given (templates=None restores the built-in wording); validates everything first."""
    check_definition(key)
    if holdout_percent is not None:
        if isinstance(holdout_percent, bool) or not isinstance(holdout_percent, int):
            raise InvalidInput(N_("The hold-out share must be a whole number of percent."))
        if not 0 <= holdout_percent <= MAX_HOLDOUT_PERCENT:
            raise InvalidInput(
                N_("The hold-out share must be between 0 and %(most)s percent."), most=MAX_HOLDOUT_PERCENT
            )
    if holdout_percent and is_transactional(key):
        raise InvalidInput(N_("A reminder the customer asked for has no hold-out group."))
    cleaned = check_wording(key, templates) if templates is not _UNSET else _UNSET
    row = uow.session.get(Automation, key)
    if row is None:
        row = _default(key)
        uow.session.add(row)
    if enabled is not None:
        row.enabled = bool(enabled)
    if holdout_percent is not None:
        row.holdout_percent = holdout_percent
    if cleaned is not _UNSET:
        row.templates = cleaned
    row.updated_at, row.updated_by = uow.now(), by
    uow.session.flush()
    return row


def weekly_cap(uow: UnitOfWork) -> int:
    """At most this many marketing messages per customer in any 7 days (setting automations.weekly_cap)."""
    value = shop.get_setting(uow=uow, key=WEEKLY_CAP_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_WEEKLY_CAP


def set_weekly_cap(uow: UnitOfWork, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_WEEKLY_CAP:
        raise InvalidInput(N_("The weekly cap must be a whole number from 0 to %(most)s."), most=MAX_WEEKLY_CAP)
    shop.set_setting(uow=uow, key=WEEKLY_CAP_KEY, value=n)
