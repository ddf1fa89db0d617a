"""What a loyalty tier is called on console pages: the default program's tiers translated, a shop's own as named."""

from __future__ import annotations

from bot.web_i18n import gettext as _
from crm_core.errors import N_

# the tier names of the default loyalty program (crm_core.loyalty.Program); a shop's own names are shown as they are
TIER_LABELS = {"regular": N_("Regular"), "silver": N_("Silver"), "gold": N_("Gold")}


def tier_label(name: str | None) -> str:
    if not name:
        return ""
    return _(TIER_LABELS[name]) if name in TIER_LABELS else name
