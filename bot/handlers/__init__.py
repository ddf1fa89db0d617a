"""LINE event handlers, keyed by event type. Each: parse -> crm_core calls -> replies."""

from __future__ import annotations

from bot.handlers.account_link import handle_account_link
from bot.handlers.follow import handle_follow, handle_unfollow
from bot.handlers.message import handle_message
from bot.handlers.postback import handle_postback

HANDLERS = {
    "follow": handle_follow,
    "unfollow": handle_unfollow,
    "message": handle_message,
    "postback": handle_postback,
    "accountLink": handle_account_link,
}

# events that need the LINE profile (fetched before the transaction opens)
NEEDS_PROFILE = {"follow"}
