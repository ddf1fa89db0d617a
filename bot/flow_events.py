"""Coupon flows on events: after a purchase or a registration is committed, the flows it may trigger run
for that customer at once (the customer is at the till, or on LINE, now). The `flows.run` job finds the
rest (birthdays, lapses, dates) every minute."""

from __future__ import annotations

import logging

from crm_core import automations
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
