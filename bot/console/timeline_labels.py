"""What each kind of timeline entry is called on the customer screen (message ids, translated when shown)."""

from __future__ import annotations

from bot.i18n import format_yen
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core.errors import N_

LABELS = {
    "created": N_("Customer record created"),
    "followed": N_("Added the LINE account as a friend"),
    "unblocked": N_("Unblocked the LINE account"),
    "blocked": N_("Blocked the LINE account"),
    "consented": N_("Agreed to the privacy notice"),
    "registered": N_("Became a member on LINE"),
    "linked": N_("Linked an existing membership to LINE"),
    "link_failed": N_("Tried to link a membership, with wrong details"),
    "link_locked": N_("Linking locked after too many wrong tries"),
    "message_in": N_("Message from the customer"),
    "message_out": N_("Message to the customer"),
    "postback": N_("Tapped a button on LINE"),
    "opted_out": N_("Stopped marketing messages"),
    "opted_in": N_("Resumed marketing messages"),
    "reward_issued": N_("Filled the stamp card and got a reward"),
    "till_undo": N_("A sale or a points payment was undone at the till"),
    "points_without_card": N_("Paid with points without showing the card (an admin allowed it)"),
    "erased": N_("Personal data erased on request"),
}
# kinds whose label names figures kept with the entry
DETAILED = {
    "purchase": N_("Bought %(total)s, earned %(points)s points"),
    "refund": N_("Refund of %(total)s, %(points)s points taken back"),
    "tier_changed": N_("Tier changed from %(from)s to %(to)s"),
}


def label(kind: str, data: dict | None = None) -> str:
    """The translated label, or the raw kind for one added after this list."""
    data = data or {}
    if kind in DETAILED:
        try:
            return _(
                DETAILED[kind],
                total=yen(data.get("total", data.get("amount", 0))),
                points=data.get("points", 0),
                **{"from": data.get("from", ""), "to": data.get("to", "")},
            )
        except (KeyError, TypeError, ValueError):
            return kind
    message = LABELS.get(kind)
    return _(message) if message else kind


def yen(amount) -> str:
    return format_yen(int(amount), current_locale())
