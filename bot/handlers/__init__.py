"""LINE event handlers, keyed by event type. Each: parse -> crm_core calls -> replies.

In standby mode (another tool, e.g. a chat in LINE Official Account Manager, is in charge of the chat)
the events are only recorded: `STANDBY_HANDLERS` keep state and the timeline and never answer.
"""

from __future__ import annotations

from bot.handlers.account_link import handle_account_link
from bot.handlers.follow import handle_follow, handle_unfollow, record_follow
from bot.handlers.message import handle_message, record_message
from bot.handlers.postback import handle_postback, record_postback
from bot.handlers.unsend import handle_unsend

HANDLERS = {
    "follow": handle_follow,
    "unfollow": handle_unfollow,
    "message": handle_message,
    "postback": handle_postback,
    "accountLink": handle_account_link,
    "unsend": handle_unsend,
}

STANDBY_HANDLERS = {
    "follow": record_follow,
    "unfollow": handle_unfollow,
    "message": record_message,
    "postback": record_postback,
    "unsend": handle_unsend,
}

# events that need the LINE profile (fetched before the transaction opens)
NEEDS_PROFILE = {"follow"}
