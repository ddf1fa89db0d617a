"""Message events: a conversation in progress first, then keywords, then a friendly 'did not understand'."""

from __future__ import annotations

from bot.flows import menu, registration
from bot.handlers.context import EventContext
from crm_core import channels


def handle_message(ctx: EventContext) -> None:
    message = ctx.event.get("message") or {}
    if message.get("type") != "text":
        channels.record_message(
            uow=ctx.uow, identity=ctx.identity, kind="message_in", summary=f"[{message.get('type')}]"
        )
        ctx.reply("not_understood")
        return
    text = message.get("text", "")
    channels.record_message(uow=ctx.uow, identity=ctx.identity, kind="message_in", summary=text)
    keyword = menu.keyword_of(text)
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
