"""Automations: messages decided from purchase history (first purchase, replenishment, recommendations,
points expiring, birthday), each with a stable hold-out group and every decision recorded.

crm_core decides; the caller hands in how messages are rendered (`render`), so nothing here knows LINE.
"""

from __future__ import annotations

from crm_core.automations.definitions import (
    AUTOMATIONS,
    DEFAULT_WEEKLY_CAP,
    FLOW,
    AutomationDefinition,
    check_wording,
    flow_id_of,
    flow_key,
    get_automation,
    list_automations,
    render_wording,
    set_weekly_cap,
    update_automation,
    weekly_cap,
)
from crm_core.automations.engine import (
    Recipient,
    RunReport,
    flow_context,
    in_holdout,
    recommend,
    run_due,
    run_flows,
    run_now,
    running_flow_keys,
)
from crm_core.automations.recommendations import RefreshReport, refresh
from crm_core.automations.samples import sample

__all__ = [
    "AUTOMATIONS",
    "DEFAULT_WEEKLY_CAP",
    "FLOW",
    "AutomationDefinition",
    "Recipient",
    "RefreshReport",
    "RunReport",
    "check_wording",
    "flow_context",
    "flow_id_of",
    "flow_key",
    "get_automation",
    "in_holdout",
    "list_automations",
    "recommend",
    "refresh",
    "render_wording",
    "run_due",
    "run_flows",
    "run_now",
    "running_flow_keys",
    "sample",
    "set_weekly_cap",
    "update_automation",
    "weekly_cap",
]
