"""Coupon flows: a trigger, an audience (a segment), a coupon and a message, decided by the push engine.

A flow is decided as the automation `flow:<id>` (crm_core.automations): one decision per customer and
occurrence (a birthday once a year, a win-back once per lapse), the stable hold-out group, the weekly
cap, consent, blocking and opt-out, quiet hours at delivery, and the results page all come from there.
The coupon is issued in the same transaction as each `send` decision, so a message never arrives
without its coupon and a run that crashes halfway issues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from crm_core import shop
from crm_core.automations.definitions import MAX_HOLDOUT_PERCENT, check_wording, flow_key
from crm_core.errors import N_, Conflict, InvalidFields, InvalidInput, NotFound
from crm_core.models import Coupon, CouponFlow, Segment
from crm_core.uow import UnitOfWork

TRIGGERS = (
    "member_joined",
    "nth_purchase",
    "birthday_month",
    "lapsed",
    "points_threshold",
    "tier_reached",
    "scheduled",
)
TIERS = ("regular", "silver", "gold")


@dataclass(frozen=True)
class FlowSpec:
    """What a marketer sets for a flow; `check()` names each wrong field."""

    name: str
    trigger: str
    coupon_id: int
    params: dict | None = None
    segment_id: int | None = None
    templates: dict | None = None
    holdout_percent: int = 10
    starts_on: date | None = None
    ends_on: date | None = None
    paused: bool = False

    def check(self, uow: UnitOfWork) -> FlowSpec:
        errors: dict[str, InvalidInput] = {}
        name = self.name.strip() if isinstance(self.name, str) else ""
        if not name or len(name) > 100:
            errors["name"] = InvalidInput(N_("A flow needs a name of at most 100 characters."))
        params: dict = {}
        if self.trigger not in TRIGGERS:
            errors["trigger"] = InvalidInput(N_("The trigger is one of: %(triggers)s."), triggers=", ".join(TRIGGERS))
        else:
            problem = _check_params(self.trigger, self.params or {}, params)
            if problem:
                errors.update(problem)
        coupon = uow.session.get(Coupon, self.coupon_id) if _whole(self.coupon_id, 1, 2**31 - 1) else None
        if coupon is None:
            errors["coupon_id"] = InvalidInput(N_("Choose a coupon."))
        elif coupon.obtain != "flow":
            errors["coupon_id"] = InvalidInput(N_("Choose a coupon that is obtained through flows."))
        elif coupon.per_customer_limit is not None and _recurs(self.trigger, self.params or {}):
            errors["coupon_id"] = InvalidInput(
                N_(
                    "This flow comes back (each birthday, each lapse, every month) but the coupon may be held "
                    "%(limit)s times per customer: it would stop there. Choose a coupon without a per-customer limit."
                ),
                limit=coupon.per_customer_limit,
            )
        if self.segment_id is not None and (
            not _whole(self.segment_id, 1, 2**31 - 1) or uow.session.get(Segment, self.segment_id) is None
        ):
            errors["segment_id"] = InvalidInput(N_("Choose a saved segment, or everyone."))
        if not _whole(self.holdout_percent, 0, MAX_HOLDOUT_PERCENT):
            errors["holdout_percent"] = InvalidInput(
                N_("Enter a whole number from %(low)s to %(high)s."), low=0, high=MAX_HOLDOUT_PERCENT
            )
        for field in ("starts_on", "ends_on"):
            if getattr(self, field) is not None and not isinstance(getattr(self, field), date):
                errors[field] = InvalidInput(N_("Enter a date."))
        if isinstance(self.starts_on, date) and isinstance(self.ends_on, date) and self.ends_on < self.starts_on:
            errors["ends_on"] = InvalidInput(N_("The last day comes before the first day."))
        templates = None
        try:
            templates = check_wording("flow", self.templates)
        except InvalidInput as wrong:
            errors["templates"] = wrong
        if errors:
            raise InvalidFields(errors)
        return replace(self, name=name, params=params, templates=templates, paused=bool(self.paused))


def _recurs(trigger: str, params: dict) -> bool:
    """Whether the trigger fires again for the same customer (once a year, once per lapse, once a month)."""
    return trigger in ("birthday_month", "lapsed") or (trigger == "scheduled" and params.get("day_of_month"))


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_params(trigger: str, given: dict, out: dict) -> dict[str, InvalidInput]:
    """The trigger's parameters into `out`; the wrong ones by field name."""

    def whole(name: str, low: int, high: int) -> dict[str, InvalidInput]:
        value = given.get(name)
        if not _whole(value, low, high):
            return {name: InvalidInput(N_("Enter a whole number from %(low)s to %(high)s."), low=low, high=f"{high:,}")}
        out[name] = value
        return {}

    if trigger == "nth_purchase":
        return whole("n", 1, 1_000)
    if trigger == "lapsed":
        return whole("days", 1, 3_650)
    if trigger == "points_threshold":
        return whole("points", 1, 10_000_000)
    if trigger == "tier_reached":
        if given.get("tier") not in TIERS:
            return {"tier": InvalidInput(N_("A tier is one of: %(tiers)s."), tiers=", ".join(TIERS))}
        out["tier"] = given["tier"]
        return {}
    if trigger == "scheduled":
        on, day = given.get("on"), given.get("day_of_month")
        if on is not None:
            try:
                out["on"] = (on if isinstance(on, date) else date.fromisoformat(str(on))).isoformat()
            except ValueError:
                return {"on": InvalidInput(N_("Enter a date."))}
            return {}
        if day is not None:
            return whole("day_of_month", 1, 28)
        return {"on": InvalidInput(N_("Give the day to send on, or a day of the month."))}
    return {}


def save_flow(
    *, uow: UnitOfWork, spec: FlowSpec, flow_id: int | None = None, staff_user_id: int | None = None
) -> CouponFlow:
    """Create (or update) a flow from a checked spec; InvalidFields names each wrong field, nothing half-saved."""
    spec = spec.check(uow)
    now = uow.now()
    flow = None if flow_id is None else get_flow(uow=uow, flow_id=flow_id)
    values = {
        "name": spec.name,
        "trigger": spec.trigger,
        "params": spec.params,
        "segment_id": spec.segment_id,
        "coupon_id": spec.coupon_id,
        "templates": spec.templates,
        "holdout_percent": spec.holdout_percent,
        "starts_on": spec.starts_on,
        "ends_on": spec.ends_on,
        "paused": spec.paused,
        "updated_at": now,
        "updated_by": staff_user_id,
    }
    try:
        with uow.session.begin_nested():
            if flow is None:
                flow = CouponFlow(created_at=now, **values)
                uow.session.add(flow)
            else:
                for name, value in values.items():
                    setattr(flow, name, value)
    except IntegrityError:
        raise InvalidFields({"name": Conflict(N_("Another flow already has this name."))}) from None
    if flow_id is not None:  # a changed flow is decided again today by the job, not only tomorrow
        shop.set_setting(uow=uow, key=f"flows.decided_on:{flow_key(flow.id)}", value=None)
    return flow


def set_paused(*, uow: UnitOfWork, flow_id: int, paused: bool, staff_user_id: int | None = None) -> CouponFlow:
    flow = get_flow(uow=uow, flow_id=flow_id)
    flow.paused, flow.updated_at, flow.updated_by = bool(paused), uow.now(), staff_user_id
    return flow


def get_flow(*, uow: UnitOfWork, flow_id: int) -> CouponFlow:
    flow = uow.session.get(CouponFlow, flow_id)
    if flow is None:
        raise NotFound(N_("No such flow."))
    return flow


def list_flows(*, uow: UnitOfWork) -> list[CouponFlow]:
    return list(uow.session.exec(select(CouponFlow).order_by(CouponFlow.name)))


def flow_coupons(*, uow: UnitOfWork) -> list[Coupon]:
    """The coupons a flow may issue (obtained through flows), newest first."""
    return list(uow.session.exec(select(Coupon).where(Coupon.obtain == "flow").order_by(Coupon.id.desc())))


@dataclass(frozen=True)
class DryRun:
    """Who a flow would reach now: its trigger's candidates in its segment, and what would become of them."""

    candidates: int
    send: int
    holdout: int
    skipped: dict[str, int]  # reason -> customers (the weekly cap is left to the run: it depends on the day)


def dry_run(*, uow: UnitOfWork, spec: FlowSpec, zone, flow_id: int | None = None) -> DryRun:
    """Count what deciding the (checked) flow now would do, writing nothing."""
    from crm_core import segments  # noqa: PLC0415
    from crm_core.automations import candidates, engine  # noqa: PLC0415

    key = flow_key(flow_id or 0)
    flow = CouponFlow(trigger=spec.trigger, params=spec.params, starts_on=spec.starts_on, coupon_id=spec.coupon_id)
    at = candidates.Moment(now=uow.now(), zone=zone)
    audience = None
    if spec.segment_id is not None:
        rules = segments.check_rules(uow.session.get(Segment, spec.segment_id).rules)
        audience = segments.audience(rules, now=at.now, zone=zone)
    send = holdout = 0
    skipped: dict[str, int] = {}
    rows = uow.session.execute(candidates.coupon_flow(key, flow, at, audience)).all()
    for row in rows:
        reason = engine.skip_reason(row)
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        held = row.in_holdout
        if held is None:
            held = engine.in_holdout(key, row.customer_id, spec.holdout_percent)
        if held:
            holdout += 1
        else:
            send += 1
    return DryRun(candidates=len(rows), send=send, holdout=holdout, skipped=skipped)


@dataclass(frozen=True)
class CouponResults:
    issued: int
    redeemed: int
    revenue: int  # yen: what the purchases the coupons were redeemed with came to, net of refunds
    discount: int  # yen taken off by them


def coupon_results(*, uow: UnitOfWork, flow_id: int) -> CouponResults | None:
    """What became of the coupons this flow issued (None for an unknown flow)."""
    from sqlalchemy import func  # noqa: PLC0415

    from crm_core.models import CustomerCoupon, Purchase  # noqa: PLC0415

    if uow.session.get(CouponFlow, flow_id) is None:
        return None
    mine = CustomerCoupon.idempotency_key.like(f"{flow_key(flow_id)}:%")
    issued = uow.session.exec(select(func.count()).select_from(CustomerCoupon).where(mine)).one()
    redeemed, discount, revenue = uow.session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(CustomerCoupon.discount), 0),
            func.coalesce(func.sum(Purchase.total - Purchase.refunded_total), 0),
        )
        .select_from(CustomerCoupon)
        .outerjoin(Purchase, Purchase.id == CustomerCoupon.purchase_id)
        .where(mine, CustomerCoupon.status == "redeemed")
    ).one()
    return CouponResults(issued=issued, redeemed=redeemed, revenue=int(revenue), discount=int(discount))
