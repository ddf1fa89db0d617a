"""Follow and unfollow (block) events."""

from __future__ import annotations

from bot.flows import registration
from bot.handlers.context import EventContext
from crm_core import channels


def handle_follow(ctx: EventContext) -> None:
    """Greet by name; an unblock brings back the same identity and customer, never a duplicate."""
    unblocked = record_follow(ctx)
    registration.greet(ctx, unblocked=unblocked)


def record_follow(ctx: EventContext) -> bool:
    """Keep the follow (or unblock) and the LINE profile, without answering; True for an unblock."""
    if ctx.profile is not None:
        channels.update_profile(
            identity=ctx.identity, display_name=ctx.profile.display_name, language=ctx.profile.language
        )
    unblocked = bool((ctx.event.get("follow") or {}).get("isUnblocked"))
    channels.record_follow(uow=ctx.uow, identity=ctx.identity, unblocked=unblocked)
    return unblocked


def handle_unfollow(ctx: EventContext) -> None:
    """Blocked: stop LINE messages to this user; nothing else about the customer changes."""
    channels.record_unfollow(uow=ctx.uow, identity=ctx.identity)
