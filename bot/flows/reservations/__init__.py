"""Reservations on LINE (`予約`): store, menu, day, a free time, confirm; the customer's bookings, change, cancel.

Every button is the `reservations` postback action with its `step` and what was chosen so far (`menu`,
`at`, `change`), so no conversation state is kept: an old button still gets a sensible answer, and the core
decides whether what it asks is still possible. Times are shown in the store's zone (`rules_for(...).zone`).
"""

from __future__ import annotations

from bot.flows.reservations.booking import choose_day, choose_menu, choose_store, choose_time, confirm, start
from bot.flows.reservations.my_bookings import ask_cancel, cancel, change, list_bookings
from bot.handlers.context import EventContext

STEPS = {
    "": start,
    "list": list_bookings,
    "store": choose_store,
    "menu": choose_menu,
    "day": choose_day,
    "time": choose_time,
    "confirm": confirm,
    "change": change,
    "cancel": ask_cancel,
    "cancel_do": cancel,
}


def reservations_step(ctx: EventContext, params: dict | None = None) -> None:
    """`予約` (or its button) starts; the conversation's buttons name their `step`."""
    params = params or {}
    step = STEPS.get(params.get("step", ""))
    if step is None:
        ctx.reply("unknown_postback")
        return
    step(ctx, params)


ACTIONS = {"reservations": reservations_step}
