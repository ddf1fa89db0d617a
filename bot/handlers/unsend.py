"""Unsend events: the customer took a message back, so Kizuna forgets what it said."""

from __future__ import annotations

from bot.handlers.context import EventContext
from crm_core import channels


def handle_unsend(ctx: EventContext) -> None:
    message_id = (ctx.event.get("unsend") or {}).get("messageId")
    if message_id:
        channels.record_unsend(uow=ctx.uow, identity=ctx.identity, message_id=message_id)
