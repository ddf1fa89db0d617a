"""Postback events from buttons: `action=<name>&...`, dispatched by name."""

from __future__ import annotations

from urllib.parse import parse_qs

from bot.flows import menu, registration
from bot.handlers.context import EventContext
from crm_core import channels

ACTIONS = {
    "consent": registration.consent,
    "decline": registration.decline,
    "show_privacy": registration.show_privacy,
    "join": registration.join,
    "register_new": registration.register_new,
    "link_member": registration.start_link,
    "account_link": registration.start_account_link,
    "cancel": registration.cancel,
    **menu.ACTIONS,
}


def parse_postback(data: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(data or "", keep_blank_values=True).items()}


def handle_postback(ctx: EventContext) -> None:
    params = record_postback(ctx)
    action = ACTIONS.get(params.get("action", ""))
    if action is None:
        ctx.reply("unknown_postback")
        return
    action(ctx, params)


def record_postback(ctx: EventContext) -> dict[str, str]:
    """Keep the tapped button's action on the timeline, without answering; returns the postback's parameters."""
    postback = ctx.event.get("postback") or {}
    params = parse_postback(postback.get("data", ""))
    if postback.get("params"):
        params.update({f"param_{k}": str(v) for k, v in postback["params"].items()})
    channels.record_message(uow=ctx.uow, identity=ctx.identity, kind="postback", summary=params.get("action", "?"))
    return params
