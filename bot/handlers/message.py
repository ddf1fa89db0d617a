"""Message events: a declined notice first, then a conversation in progress, then keywords."""

from __future__ import annotations

from bot.flows import menu, registration
from bot.handlers.context import EventContext
from crm_core import channels, staff


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
    if staff.is_line_link_code(text):  # a marketer linking their own LINE for test sends (a code from the console)
        linked = staff.link_line_account(
            uow=ctx.uow, code=text, line_user_id=ctx.identity.address, secret=ctx.settings.secret_key
        )
        if linked is None:
            ctx.reply("staff_line_link_unknown")
        else:
            ctx.reply("staff_line_linked", name=linked.display_name or linked.email)
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
