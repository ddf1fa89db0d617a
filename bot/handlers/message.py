"""Message events: a declined notice first, then a conversation in progress, then keywords."""

from __future__ import annotations

from bot.flows import menu, registration
from bot.handlers.context import EventContext
from crm_core import channels


def handle_message(ctx: EventContext) -> None:
    message = record_message(ctx)
    is_text = message.get("type") == "text"
    text = message.get("text", "") if is_text else ""
    keyword = menu.keyword_of(text) if is_text else None
    if ctx.identity.declined_at is not None:  # declined the privacy notice: the menu, or the way to the notice
        menu.show_menu(ctx) if keyword == "menu" else registration.answer_after_decline(ctx)
        return
    if not is_text:
        ctx.reply("not_understood")
        return
    state = ctx.identity.conversation or {}
    if keyword is None and state.get("flow") == registration.LINK_FLOW:
        registration.continue_link(ctx, text)
        return
    if state:
        ctx.set_conversation(None)  # a keyword leaves any conversation in progress
    if keyword is None:
        ctx.reply("not_understood")
        return
    menu.ACTIONS[keyword](ctx, {})


def record_message(ctx: EventContext) -> dict:
    """Keep the message on the customer's timeline, without answering; returns LINE's message object."""
    message = ctx.event.get("message") or {}
    summary = message.get("text", "") if message.get("type") == "text" else f"[{message.get('type')}]"
    channels.record_message(
        uow=ctx.uow, identity=ctx.identity, kind="message_in", summary=summary, message_id=message.get("id")
    )
    return message
