"""The booking setup of a store (admins): settings, resources, menus."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for

from bot.console.session import login_required

ROLE = "admin"


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/<code>/setup", view_func=setup_page)


@login_required(role=ROLE)
def setup_page(code: str):
    """The booking setup of a store (coming next)."""
    return redirect(url_for("console.store_edit", code=code))
