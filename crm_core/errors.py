"""Domain errors, worded for a shop owner. Messages are Babel message ids, translated by the caller."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a message for extraction; the bot layer translates it."""
    return message


class KizunaError(Exception):
    """Base of every domain error: `code` for machines, `message` (+ `params`) for people."""

    code = "error"
    message = N_("Something went wrong.")

    def __init__(self, message: str | None = None, **params):
        self.message = message or self.message
        self.params = params
        super().__init__(self.message % params if params else self.message)


class ConfigurationError(KizunaError):
    code = "configuration"


class NotFound(KizunaError):
    code = "not_found"
    message = N_("Not found.")


class InvalidInput(KizunaError):
    code = "invalid"
    message = N_("The input is not valid.")


class Conflict(KizunaError):
    code = "conflict"
    message = N_("This conflicts with existing data.")


class LinkLocked(KizunaError):
    code = "link_locked"
    message = N_("Too many wrong tries. Linking is locked until %(until)s.")


class LinkFailed(KizunaError):
    code = "link_failed"
    message = N_("The member number and the birth date or phone digits do not match.")


class AlreadyLinked(KizunaError):
    code = "already_linked"
    message = N_("This membership is already linked to another LINE account.")


class NotConsented(KizunaError):
    code = "not_consented"
    message = N_("Please agree to the privacy notice first.")


class Erased(KizunaError):
    code = "erased"
    message = N_("This customer's data was erased on request.")


class InsufficientPoints(KizunaError):
    code = "insufficient_points"
    message = N_("Not enough points: %(available)d available.")


class AlreadyReversed(KizunaError):
    code = "already_reversed"
    message = N_("This entry was already undone.")


class TooLateToUndo(KizunaError):
    code = "too_late"
    message = N_("Only today's entries can be undone; use a manual adjustment instead.")


class InvalidCardToken(KizunaError):
    code = "invalid_card"
    message = N_("This point card code is not valid. Ask the customer to show the card again.")


class ExpiredCardToken(KizunaError):
    code = "expired_card"
    message = N_("This point card code has expired. Ask the customer to refresh the card in LINE.")


class LastAdmin(KizunaError):
    code = "last_admin"
    message = N_("The shop needs at least one active admin. Make another account an admin first.")


class InvalidPasswordLink(KizunaError):
    code = "invalid_link"
    message = N_("This link is not valid. Ask an admin for a new one.")


class ExpiredPasswordLink(KizunaError):
    code = "expired_link"
    message = N_("This link has expired or was already used. Ask an admin for a new one.")


class InvalidFields(InvalidInput):
    """Several fields of one form are wrong: `errors` maps each field to its own InvalidInput."""

    code = "invalid_fields"
    message = N_("Some fields need correcting.")

    def __init__(self, errors: dict[str, InvalidInput]):
        self.errors = errors
        super().__init__()


class CardNeeded(KizunaError):
    code = "card_required"
    message = N_(
        "Paying with points needs the customer's point card: scan the QR code in their LINE app "
        "(a member number alone is not enough)."
    )


class CouponRefused(Conflict):
    """A coupon cannot be issued or used now; `code` says why (the API answers 409 with it)."""

    code = "coupon_refused"
    message = N_("This coupon cannot be used.")


class SoldOut(CouponRefused):
    code = "sold_out"
    message = N_("This coupon has run out.")


class LimitReached(CouponRefused):
    code = "limit_reached"
    message = N_("The customer already has as many of this coupon as one customer may get.")


class AlreadyUsed(CouponRefused):
    code = "already_used"
    message = N_("This coupon was already used.")


class CouponExpired(CouponRefused):
    code = "expired"
    message = N_("This coupon has expired.")


class NotYetValid(CouponRefused):
    code = "not_yet_valid"
    message = N_("This coupon can only be used from %(day)s.")


class NotThisStore(CouponRefused):
    code = "not_this_store"
    message = N_("This coupon cannot be used in this store.")


class NotThisCustomer(CouponRefused):
    code = "not_this_customer"
    message = N_("This coupon belongs to another customer.")


class MinimumNotMet(CouponRefused):
    code = "minimum_not_met"
    message = N_("This coupon needs a purchase of at least ¥%(minimum)s.")


class CouponUnavailable(CouponRefused):
    code = "not_available"
    message = N_("This coupon is not offered any more.")


class NotObtainableThisWay(CouponRefused):
    code = "not_obtainable_this_way"
    message = N_("This coupon is not obtained this way.")


class ExpiredCouponCode(KizunaError):
    code = "expired_qr"
    message = N_("This coupon's QR code has expired. Ask the customer to open the coupon again in LINE.")


class SlotTaken(Conflict):
    """The time is not free (any more) for this menu; the API answers 409 `full`."""

    code = "full"
    message = N_("This time is no longer free. Please choose another time.")


class NotBookable(InvalidInput):
    """A time a customer cannot book: `reason` says why (past, too_soon, too_far, closed, off_grid)."""

    code = "not_bookable"
    message = N_("This time cannot be booked.")


class TooLateToChange(Conflict):
    code = "too_late"
    message = N_("This booking can no longer be changed or cancelled here. Please call the store.")


class BookingClosed(Conflict):
    """The booking is not in a state that allows this (already cancelled, already marked, or the hold lapsed)."""

    code = "booking_closed"
    message = N_("This booking cannot be changed any more.")
