"""Coupon flows on events: after a purchase is committed, the flows it may trigger run for that customer
at once (the customer is at the till now). Everything else, a registration included, is found by the
`flows.run` job within a minute."""

from __future__ import annotations

import logging

from crm_core import automations
from crm_core.uow import UnitOfWork

log = logging.getLogger("kizuna.flows")

# what a purchase can change: the purchase count, the points, the tier
EVENT_TRIGGERS = ("nth_purchase", "points_threshold", "tier_reached")


def after_commit(services, uow: UnitOfWork, customer_id: int) -> None:
    """Once `uow` has committed, run for this customer the running flows a purchase can trigger, if there are
    any (asked in `uow`'s own transaction: no flow, no extra work for the till); never failing the caller."""
    keys = automations.running_flow_keys(uow=uow, zone=services.settings.zone, triggers=EVENT_TRIGGERS)
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
            log.exception("coupon flows after a purchase of customer %s", customer_id)

    uow.after_commit(run)
