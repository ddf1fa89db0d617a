"""A small shop to decide automations in (tests/shop.py)."""

from __future__ import annotations

import pytest

from tests.shop import TOKYO, Shop

__all__ = ["TOKYO", "Shop"]


@pytest.fixture
def shop(services, clock) -> Shop:
    return Shop(services, clock)
