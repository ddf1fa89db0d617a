"""The staff console: session login, customer lookup at the till, reservations, failed webhook events."""

from __future__ import annotations

from flask import Blueprint

from bot.console import (
    accounts,
    auth,
    automations,
    marketing,
    program,
    reservations,
    settings,
    stores,
    system,
    till,
    tokens,
    views,
)


def create_console_blueprint() -> Blueprint:
    """The console's routes, templates and CSS, to be mounted at /console."""
    bp = Blueprint(
        "console",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    auth.register(bp)
    views.register(bp)
    till.register(bp)
    program.register(bp)
    settings.register(bp)
    system.register(bp)
    stores.register(bp)
    accounts.register(bp)
    tokens.register(bp)
    automations.register(bp)
    marketing.register(bp)
    reservations.register(bp)
    return bp
