"""The marketer's console (marketers and admins), at /console/marketing: one module per section, each listed in
`SECTIONS` for the section navigation."""

from __future__ import annotations

from flask import Blueprint

from bot.console.marketing import coupons, flows
from bot.console.session import current_user, login_required
from crm_core import staff
from crm_core.errors import N_

ROLE = coupons.ROLE
# (endpoint, label): the section navigation, in order
SECTIONS = [
    ("console.coupon_list", N_("Coupons")),
    ("console.segment_list", N_("Segments")),
    ("console.flow_list", N_("Coupon flows")),
]


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/marketing", view_func=marketing_home)
    coupons.register(bp)
    flows.register(bp)
    bp.context_processor(_marketing_context)


def _marketing_context() -> dict:
    user = current_user()
    return {"can_market": user is not None and staff.has_role(user, ROLE), "marketing_sections": SECTIONS}


@login_required(role=ROLE)
def marketing_home():
    """The marketing landing page: the coupons, with the section navigation."""
    return coupons.list_page()
