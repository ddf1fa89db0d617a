"""Retry keys for the outbox rows an automation run writes: LINE wants a UUID, and each must be new."""

from __future__ import annotations

import uuid

from crm_core.automations.engine import retry_keys


def test_retry_keys_are_distinct_random_version_4_uuids():
    keys = retry_keys(2000)
    assert len(set(keys)) == 2000
    for key in keys:
        parsed = uuid.UUID(key)
        assert (str(parsed), parsed.version, parsed.variant) == (key, 4, uuid.RFC_4122)
