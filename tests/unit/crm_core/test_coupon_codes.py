"""Coupon code formats without a database: what a till's typing becomes, how a code reads, what a format allows."""

from __future__ import annotations

import pytest

from crm_core.coupons import codes


def test_typing_at_a_till_finds_the_stored_form():
    assert codes.normalize_code(" xmas-1234 5678 ") == "XMAS12345678"
    assert codes.normalize_code("ＸＭＡＳ－１２３４") == "XMAS1234"  # full-width, from a Japanese keyboard
    assert codes.normalize_code("XMASー12O4") == "XMAS1204"  # a long-vowel mark for the dash, an O for the zero
    assert codes.normalize_code("i0o1") == "1001"
    assert codes.plain("kzqAbO-i") == "KZQABOI"  # a signed QR code keeps its letters


@pytest.mark.parametrize("alphabet", ["mixed", "digits"])
def test_new_codes_follow_the_format_and_are_already_in_normal_form(alphabet):
    for _ in range(200):
        code = codes.new_code(prefix="XMAS", alphabet=alphabet, length=8)
        assert code.startswith("XMAS") and len(code) == 12
        assert set(code[4:]) <= set(codes.ALPHABETS[alphabet])
        assert codes.normalize_code(code) == code
    assert not set("01OI") & set(codes.ALPHABETS["mixed"])


def test_codes_read_in_groups_after_the_prefix():
    assert codes.display_code("ABCDEFGHJKLM") == "ABCD-EFGH-JKLM"
    assert codes.display_code("XMAS12345678", prefix="XMAS") == "XMAS-1234-5678"
    assert codes.display_code("X123456789", prefix="X") == "X-1234-5678-9"


def _errors(**fields):
    values = {"prefix": "", "alphabet": "mixed", "length": 12, "stock": None, **fields}
    prefix, errors = codes.check_format(**values)
    return prefix, {name: error.message % error.params for name, error in errors.items()}


def test_a_format_is_checked_field_by_field():
    assert _errors(prefix=" xmas-26 ") == ("XMAS26", {})
    assert _errors(prefix="COOL")[1] == {
        "code_prefix": "At most 8 letters and digits, without O and I (they read like 0 and 1)."
    }
    assert set(_errors(prefix="ABCDEFGHJ")[1]) == {"code_prefix"}
    assert set(_errors(prefix="割引")[1]) == {"code_prefix"}
    assert _errors(alphabet="emoji")[1] == {"code_alphabet": "The characters are one of: mixed, digits."}
    assert _errors(alphabet="digits", length=6)[1] == {"code_length": "Enter a whole number from 8 to 32."}
    assert _errors(prefix="ABCDEFGH", length=25)[1] == {"code_length": "Enter a whole number from 6 to 24."}
    assert _errors(alphabet="digits", length=8, stock=5_000_000)[1] == {
        "code_length": "Too few codes for a stock of 5,000,000: make them at least 9 characters long."
    }
    assert _errors(alphabet="digits", length=9, stock=5_000_000)[1] == {}
