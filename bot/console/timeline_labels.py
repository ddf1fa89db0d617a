"""What each kind of timeline entry is called on the customer screen (message ids, translated when shown)."""

from __future__ import annotations

from datetime import datetime

from bot.console.session import kizuna
from bot.console.tier_labels import tier_label
from bot.i18n import format_moment, format_yen
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core.errors import N_
from crm_core.models import TimelineEntry

LABELS = {
    "created": N_("Customer record created"),
    "followed": N_("Added the LINE account as a friend"),
    "unblocked": N_("Unblocked the LINE account"),
    "blocked": N_("Blocked the LINE account"),
    "consented": N_("Agreed to the privacy notice"),
    "declined": N_("Declined the privacy notice"),
    "registered": N_("Became a member on LINE"),
    "linked": N_("Linked an existing membership to LINE"),
    "link_failed": N_("Tried to link a membership, with wrong details"),
    "link_locked": N_("Linking locked after too many wrong tries"),
    "message_in": N_("Message from the customer"),
    "message_out": N_("Message to the customer"),
    "message_unsent": N_("The customer unsent a message"),
    "postback": N_("Tapped a button on LINE"),
    "opted_out": N_("Stopped marketing messages"),
    "opted_in": N_("Resumed marketing messages"),
    "reward_issued": N_("Filled the stamp card and got a reward"),
    "coupon_issued": N_("Got a coupon"),
    "coupon_redeemed": N_("Used a coupon"),
    "coupon_restored": N_("Got a coupon back (the sale was undone)"),
    "reward_not_issued": N_("Filled the stamp card, but its reward coupon could not be issued"),
    "till_undo": N_("A sale or a points payment was undone at the till"),
    "points_without_card": N_("Paid with points without showing the card (an admin allowed it)"),
    "erased": N_("Personal data erased on request"),
    "booking_made": N_("Made a booking"),
    "booking_moved": N_("A booking was moved to another time"),
    "booking_cancelled": N_("A booking was cancelled"),
    "booking_arrived": N_("Came for a booking"),
    "booking_no_show": N_("Did not come for a booking (no-show)"),
    "booking_unmarked": N_("A booking's arrived or no-show mark was undone"),
}
# profile_changed: which fields changed (never their values), and where
PROFILE_CHANGED = {
    "line": N_("Updated their profile on LINE: %(fields)s"),
    "console": N_("Profile corrected by staff: %(fields)s"),
}
PROFILE_FIELDS = {
    "name": N_("Name"),
    "name_kana": N_("Furigana"),
    "birthday": N_("Birthday"),
    "phone": N_("Phone"),
    "email": N_("E-mail address"),
    "home_store": N_("Home store"),
}
# kinds whose label names figures kept with the entry
DETAILED = {
    "purchase": N_("Bought %(total)s, earned %(points)s points"),
    "refund": N_("Refund of %(total)s, %(points)s points taken back"),
    "tier_changed": N_("Tier changed from %(from)s to %(to)s"),
}
# a `postback` entry keeps the button's action (bot/handlers/postback.py); unknown ones read as LABELS["postback"]
POSTBACKS = {
    "consent": N_('Tapped "Agree" on the privacy notice'),
    "decline": N_('Tapped "Do not agree" on the privacy notice'),
    "show_privacy": N_("Opened the privacy notice"),
    "join": N_("Asked to become a member"),
    "register_new": N_("Chose to register as a new member"),
    "link_member": N_("Chose to link a membership by member number"),
    "account_link": N_("Chose to link a web account"),
    "cancel": N_("Cancelled linking a membership"),
    "menu": N_("Opened the menu"),
    "points": N_("Opened the point card"),
    "coupons": N_("Opened the coupons"),
    "reservations": N_("Opened the reservations"),
    "history": N_("Opened the purchase history"),
    "opt_out": N_("Stopped marketing messages from the menu"),
    "opt_in": N_("Resumed marketing messages from the menu"),
    "profile": N_("Asked for the link to their profile"),
    "skip_profile": N_("Chose to fill in their profile later"),
    "coupon_get": N_("Tapped to get a coupon"),
    "coupon_open": N_("Opened a coupon to use it"),
}


def describe(entry: TimelineEntry) -> tuple[str, str | None]:
    """The entry in words, and what was written (a message's text), never an internal name."""
    if entry.kind == "postback":
        return _(POSTBACKS.get(entry.summary or "", LABELS["postback"])), None
    if entry.kind.startswith("booking_") and entry.data and entry.data.get("starts_at"):
        return label(entry.kind, entry.data), _booking(entry.data)
    return label(entry.kind, entry.data), entry.summary


def _booking(data: dict) -> str:
    """The booking an entry is about: menu · when (business time) · store."""
    try:
        when = format_moment(datetime.fromisoformat(data["starts_at"]), current_locale(), kizuna().settings.zone)
    except (TypeError, ValueError):
        when = ""
    return " · ".join(part for part in (data.get("menu"), when, data.get("store")) if part)


def label(kind: str, data: dict | None = None) -> str:
    """The translated label, or the raw kind for one added after this list."""
    data = data or {}
    if kind == "profile_changed":
        fields = [_(PROFILE_FIELDS[field]) for field in data.get("fields", []) if field in PROFILE_FIELDS]
        separator = "、" if current_locale() == "ja" else ", "
        return _(PROFILE_CHANGED.get(data.get("via"), PROFILE_CHANGED["console"]), fields=separator.join(fields))
    if kind in DETAILED:
        try:
            return _(
                DETAILED[kind],
                total=yen(data.get("total", data.get("amount", 0))),
                points=data.get("points", 0),
                **{"from": tier_label(data.get("from", "")), "to": tier_label(data.get("to", ""))},
            )
        except (KeyError, TypeError, ValueError):
            return kind
    message = LABELS.get(kind)
    return _(message) if message else kind


def yen(amount) -> str:
    return format_yen(int(amount), current_locale())
