"""A booking's reminders: when they go (18:00 the business day before, two hours before), and cancelling the
pending ones with the booking. The push engine decides them (automation `booking_reminder`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from crm_core.models import Booking, OutboxMessage
from crm_core.reservations.availability import local_moment
from crm_core.uow import UnitOfWork

REMINDER = "booking_reminder"  # the push engine's automation key
OCCURRENCES = ("eve", "soon")
EVE_MINUTES = 18 * 60  # the day-before reminder at 18:00 in the store's zone
SOON = timedelta(hours=2)


def reminder_key(customer_id: int, booking_id: int, occurrence: str) -> str:
    """The outbox dedupe key of a booking's reminder, as the push engine writes it."""
    return f"auto:{REMINDER}:{customer_id}:{booking_id}:{occurrence}"


def set_reminders(booking: Booking, zone: ZoneInfo, now: datetime) -> None:
    """The reminder moments still ahead: 18:00 the business day before, and two hours before."""
    day = booking.starts_at.astimezone(zone).date()
    eve = local_moment(day - timedelta(days=1), EVE_MINUTES, zone)
    soon = booking.starts_at - SOON
    booking.remind_eve_at = eve if eve is not None and now < eve < soon else None
    booking.remind_soon_at = soon if now < soon else None


def cancel_reminders(uow: UnitOfWork, booking: Booking) -> int:
    """Pending reminders of the booking never go (decided already, not sent yet)."""
    keys = [reminder_key(booking.customer_id, booking.id, occurrence) for occurrence in OCCURRENCES]
    result = uow.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.dedupe_key.in_(keys), OutboxMessage.status == "pending")
        .values(status="cancelled", last_error="booking_cancelled")  # the results page's reason
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
