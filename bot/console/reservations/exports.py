"""Exports (admins): bookings as CSV, and an iCalendar feed per store."""

from __future__ import annotations

from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
