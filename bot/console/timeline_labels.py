"""What each kind of timeline entry is called on the customer screen (message ids, translated when shown)."""

from __future__ import annotations

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
}


def label(kind: str) -> str:
    """The translated label, or the raw kind for one added after this list."""
    message = LABELS.get(kind)
    return _(message) if message else kind
