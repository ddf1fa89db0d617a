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
    if not keys:
        return

    def run() -> None:
        try:
            with services.uow_factory() as flows_uow:
                automations.run_flows(
                    uow=flows_uow,
                    render=services.automation_render(flows_uow),
                    zone=services.settings.zone,
                    customer_ids=[customer_id],
                    keys=keys,
                )
        except Exception:  # the purchase stands; the flows.run job decides within a minute
            log.exception("coupon flows after an event of customer %s", customer_id)

    # on the event workers, not in the request: the till's answer and the LINE reply do not wait for the flows
    uow.after_commit(lambda: services.pump.run_in_background(run))


def booking_changed(services, uow: UnitOfWork, customer_id: int) -> None:
    """Once `uow` has committed a new or moved booking, decide its reminders at once (they wait in the outbox for
    their time; the `automations.run` job would find them within a minute); never failing the caller."""

    def run() -> None:
        try:
            with services.uow_factory() as reminders_uow:
                automations.run_due(
                    uow=reminders_uow,
                    render=services.automation_render(reminders_uow),
                    zone=services.settings.zone,
                    keys=[REMINDER],
                    customer_ids=[customer_id],
                )
        except Exception:  # the booking stands; the automations.run job decides within a minute
            log.exception("booking reminders of customer %s", customer_id)

    if automations.get_automation(uow=uow, key=REMINDER).enabled:
        uow.after_commit(lambda: services.pump.run_in_background(run))
