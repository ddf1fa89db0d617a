"""Webhook fixtures: the production web process, which stores events and answers, leaving them to a worker."""

from __future__ import annotations

import pytest

from bot.app import create_app


@pytest.fixture
def store_only_client(settings, services):
    """The web process of production: it stores and answers; the event worker processes later."""
    app = create_app(settings, services=services, process_events=False)
    return app.test_client()
