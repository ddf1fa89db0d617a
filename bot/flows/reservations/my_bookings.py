"""The customer's upcoming bookings: list them, change one (a new time, the same menu), cancel one."""

from __future__ import annotations

from bot.flows.reservations.booking import ask_day
from bot.flows.reservations.choices import (
    CAROUSEL,
    Refused,
    changeable,
    chosen_menu,
    for_members,
    own_booking,
    postback,
    rules_of,
    shown,
)
from bot.handlers.context import EventContext
from crm_core import reservations
from crm_core.errors import BookingClosed, TooLateToChange
from crm_core.models import Customer, Store


@for_members
def list_bookings(ctx: EventContext, customer: Customer, params: dict) -> None:
    """The upcoming bookings, each with Change and Cancel while the store's deadline allows, else its phone."""
    bookings = reservations.list_for_customer(uow=ctx.uow, customer_id=customer.id, upcoming=True)
    ctx.reply(
        "bookings",
        bookings=[
            {
                **shown(ctx, booking),
                "can_change": reservations.can_change(uow=ctx.uow, booking=booking, zone=ctx.settings.zone),
                "change": postback("change", id=booking.id),
                "cancel": postback("cancel", id=booking.id),
            }
            for booking in bookings[:CAROUSEL]
        ],
    )


@for_members
def change(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Change a booking: a new day and time for the same menu (the old one stays until the new one is booked)."""
    booking = changeable(ctx, customer, params.get("id"))
    store, menu = chosen_menu(ctx, str(booking.menu_id))
    ask_day(ctx, store, menu, rules_of(ctx, store), change=booking)


@for_members
def ask_cancel(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Ask before cancelling."""
    booking = own_booking(ctx, customer, params.get("id"))
    if booking.status == "cancelled":
        ctx.reply("booking_cancelled", **shown(ctx, booking), created=False)
        return
    changeable(ctx, customer, params.get("id"))
    ctx.reply("booking_cancel_ask", **shown(ctx, booking), cancel=postback("cancel_do", id=booking.id))


@for_members
def cancel(ctx: EventContext, customer: Customer, params: dict) -> None:
    """Cancel (once: a second tap says it is cancelled); after the store's deadline, call the store."""
    booking = own_booking(ctx, customer, params.get("id"))
    store = ctx.uow.session.get(Store, booking.store_id)
    try:
        result = reservations.cancel(
            uow=ctx.uow, booking_id=booking.id, zone=ctx.settings.zone, customer_id=customer.id
        )
    except TooLateToChange:
        raise Refused("too_late", store) from None
    except BookingClosed:
        raise Refused("not_changeable", store) from None
    ctx.reply("booking_cancelled", **shown(ctx, result.booking), created=result.created)
