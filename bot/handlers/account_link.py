"""The accountLink event that ends LINE's account link flow."""

from __future__ import annotations

from bot.flows import registration
from bot.handlers.context import EventContext


def handle_account_link(ctx: EventContext) -> None:
    registration.finish_account_link(ctx)
