"""Coupon flows on events: after a purchase or a registration is committed, the flows it may trigger run
for that customer at once (the customer is at the till, or on LINE, now). The `flows.run` job finds the
rest (birthdays, lapses, dates) every minute. A booking's reminders are decided the same way."""

from __future__ import annotations

import logging

from crm_core import automations
from crm_core.reservations import REMINDER
from crm_core.uow import UnitOfWork

log = logging.getLogger("kizuna.flows")

# what a purchase can change: the purchase count, the points, the tier; and a registration
EVENT_TRIGGERS = ("nth_purchase", "points_threshold", "tier_reached")
JOINING = ("member_joined",)


def after_commit(services, uow: UnitOfWork, customer_id: int, triggers: tuple[str, ...] = EVENT_TRIGGERS) -> None:
    """Once `uow` has committed, run for this customer the running flows the event can trigger (`triggers`), if
    there are any (asked in `uow`'s own transaction: no flow, no extra work for the till); never failing the
    caller."""
    keys = automations.running_flow_keys(uow=uow, zone=services.settings.zone, triggers=triggers)
    if keys:
        _decide_after_commit(services, uow, customer_id, automations.run_flows, keys, "coupon flows")


def booking_changed(services, uow: UnitOfWork, customer_id: int) -> None:
    """Once `uow` has committed a new or moved booking, decide its reminders at once (they wait in the outbox for
    their time; the `automations.run` job would find them within a minute); never failing the caller."""
    if automations.get_automation(uow=uow, key=REMINDER).enabled:
        _decide_after_commit(services, uow, customer_id, automations.run_due, [REMINDER], "booking reminders")


def _decide_after_commit(services, uow: UnitOfWork, customer_id: int, decide, keys: list[str], what: str) -> None:
    """After the commit, on the event workers (the till's answer and the LINE reply do not wait), `decide` these
    automation keys for this customer; a failure is logged (the event stands; the minute's job decides)."""

    def run() -> None:
        try:
            with services.uow_factory() as background_uow:
                decide(
                    uow=background_uow,
                    render=services.automation_render(background_uow),
                    zone=services.settings.zone,
                    customer_ids=[customer_id],
                    keys=keys,
                )
        except Exception:
            log.exception("%s after an event of customer %s", what, customer_id)

    uow.after_commit(lambda: services.pump.run_in_background(run))
