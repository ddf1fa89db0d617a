"""Reservations in the console, at /console/reservations: the day and week of bookings per store (staff), the
booking setup of each store (admins), and the exports (CSV, an iCalendar feed). Views, templates and static
files live together in this folder, as a blueprint nested in the console's."""

from __future__ import annotations

from flask import Blueprint

from bot.console.reservations import board, bookings, exports, setup


def register(console: Blueprint) -> None:
    """Mount the reservations pages under the console (endpoints `console.reservations.*`)."""
    bp = Blueprint(
        "reservations",
        __name__,
        url_prefix="/reservations",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    board.register(bp)
    bookings.register(bp)
    setup.register(bp)
    exports.register(bp)
    console.register_blueprint(bp)
