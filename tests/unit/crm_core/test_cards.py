"""Point-card codes: signed, single-purpose, short-lived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core import cards
from crm_core.errors import ExpiredCardToken, InvalidCardToken

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
SECRET = "s" * 32


def test_round_trip_and_qr_friendly():
    code = cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW)
    assert code.isalnum() and code.isupper() and len(code) < 50
    assert cards.read(secret=SECRET, purpose=cards.CARD, code=code.lower(), now=NOW) == 42


def test_expires_after_five_minutes():
    code = cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW)
    assert cards.read(secret=SECRET, purpose=cards.CARD, code=code, now=NOW + timedelta(minutes=4)) == 42
    with pytest.raises(ExpiredCardToken):
        cards.read(secret=SECRET, purpose=cards.CARD, code=code, now=NOW + timedelta(minutes=5))


def test_forged_or_changed_codes_are_refused():
    code = cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW)
    other = cards.issue(secret="other" * 8, purpose=cards.CARD, customer_id=42, now=NOW)
    changed = code[:-3] + ("A" if code[-3] != "A" else "B") + code[-2:]
    for bad in (other, changed, "", "KZC", "KZC!!!!", code + "A"):
        with pytest.raises(InvalidCardToken):
            cards.read(secret=SECRET, purpose=cards.CARD, code=bad, now=NOW)


def test_a_card_code_is_not_a_till_ticket_and_tickets_are_bound_to_their_staff():
    code = cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW)
    with pytest.raises(InvalidCardToken):
        cards.read(secret=SECRET, purpose=cards.TILL, code=code, now=NOW)
    ticket = cards.issue(secret=SECRET, purpose=cards.TILL, customer_id=42, now=NOW, bound_to=7)
    assert cards.read(secret=SECRET, purpose=cards.TILL, code=ticket, now=NOW, bound_to=7) == 42
    with pytest.raises(InvalidCardToken):
        cards.read(secret=SECRET, purpose=cards.TILL, code=ticket, now=NOW, bound_to=8)
