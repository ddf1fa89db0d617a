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


def test_a_till_ticket_is_good_for_fifteen_minutes_and_not_a_moment_longer():
    for purpose in (cards.TILL, cards.TILL_CARD):
        ticket = cards.issue(secret=SECRET, purpose=purpose, customer_id=42, now=NOW, bound_to=7)
        last_moment = NOW + timedelta(minutes=15) - timedelta(seconds=1)
        assert cards.read(secret=SECRET, purpose=purpose, code=ticket, now=last_moment, bound_to=7) == 42
        with pytest.raises(ExpiredCardToken):
            cards.read(secret=SECRET, purpose=purpose, code=ticket, now=NOW + timedelta(minutes=15), bound_to=7)
        assert cards.expires_at(ticket) == NOW + timedelta(minutes=15)


def test_codes_keep_their_format_so_one_issued_before_an_upgrade_still_scans_after_it():
    # known answers: a code on a customer's screen (or a till ticket in a staff member's session) while
    # the shop upgrades, or issued by another web process, must read the same everywhere
    assert cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW) == (
        "KZCAAAAAKTLAJN5YAAAAAAAWZUCEWSU2HCDST3I2BI"
    )
    ticket = "KZTAAAAAKTLAJPDIAAAAAD52GUOVXR3VWMD5KB7VOI"
    assert cards.issue(secret=SECRET, purpose=cards.TILL, customer_id=42, now=NOW, bound_to=7) == ticket
    assert cards.read(secret=SECRET, purpose=cards.TILL, code=ticket, now=NOW, bound_to=7) == 42


def test_a_code_with_another_prefix_is_refused_even_when_the_rest_is_genuine():
    code = cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW)
    for prefix in ("KZT", "KZV", "XYZ"):
        with pytest.raises(InvalidCardToken):
            cards.read(secret=SECRET, purpose=cards.CARD, code=prefix + code[3:], now=NOW)


def test_a_code_typed_by_a_scanner_with_a_trailing_return_or_spaces_still_reads():
    # a handheld scanner types the code and then Enter; a POS system may pass that on to the API as it is
    code = cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=42, now=NOW)
    for typed in (code + "\r\n", code + "\n", "  " + code + " "):
        assert cards.read(secret=SECRET, purpose=cards.CARD, code=typed, now=NOW) == 42
