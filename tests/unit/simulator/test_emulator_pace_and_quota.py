"""The emulator's rate limits, random faults and monthly quota behave as LINE's do."""

from __future__ import annotations

import json
import uuid

from tests.unit.simulator.conftest import CHANNEL_ACCESS_TOKEN


def _send(emulator, endpoint: str, to, *, key: str | None = None):
    headers = {"Authorization": f"Bearer {CHANNEL_ACCESS_TOKEN}", "Content-Type": "application/json"}
    headers["X-Line-Retry-Key"] = key or str(uuid.uuid4())
    body = json.dumps({"to": to, "messages": [{"type": "text", "text": "hi"}]}).encode()
    return emulator.handle("POST", f"/v2/bot/message/{endpoint}", headers=headers, body=body)


def _friend(emulator) -> str:
    user = emulator.add_user("花子")
    emulator.follow(user)
    return user


def test_going_faster_than_the_limit_is_answered_429_until_the_bucket_refills(emulator, clock):
    user = _friend(emulator)
    emulator.set_rate_limits({"push": 10}, burst_seconds=0.5)  # 10 a second, 5 at once

    statuses = [_send(emulator, "push", user).status for _ in range(7)]

    assert statuses == [200] * 5 + [429] * 2
    assert emulator.rate_limited == {"push": 2}
    clock.advance(0.15)  # one more request's worth (and a half)
    assert [_send(emulator, "push", user).status for _ in range(2)] == [200, 429]
    assert len(emulator.messages_to(user)) == 6  # a refused request shows nothing


def test_lines_published_limits_hold_after_a_reset(emulator, clock):
    user = _friend(emulator)
    emulator.set_rate_limits({"multicast": 1})
    emulator.reset()
    assert all(_send(emulator, "multicast", [user]).status == 200 for _ in range(200))
    assert _send(emulator, "multicast", [user]).status == 429  # 200 requests a second


def test_chaos_is_reproducible_for_a_seed_and_a_lost_answer_was_still_delivered(emulator):
    user = _friend(emulator)

    def run(seed):
        emulator.reset()
        emulator.set_rate_limits({"push": None})
        emulator.chaos(0.3, seed=seed, lost=0.2)
        return [_send(emulator, "push", user).status for _ in range(100)]

    first = run(7)
    assert first == run(7) and first != run(8)
    assert {429, 500, 200} <= set(first)
    assert len(emulator.messages_to(user)) > first.count(200)  # some 500s were answers lost after LINE took it


def test_a_resend_of_a_lost_answer_under_its_key_is_409_and_shown_once(emulator):
    user = _friend(emulator)
    emulator.chaos(0, lost=1.0)
    key = str(uuid.uuid4())
    assert _send(emulator, "push", user, key=key).status == 500
    emulator.chaos(0)
    assert _send(emulator, "push", user, key=key).status == 409
    assert len(emulator.messages_to(user)) == 1


def test_the_quota_counts_one_message_per_recipient_and_refuses_what_does_not_fit(emulator):
    users = [_friend(emulator) for _ in range(3)]
    emulator.quota_limit = 4
    headers = {"Authorization": f"Bearer {CHANNEL_ACCESS_TOKEN}"}
    quota = emulator.handle("GET", "/v2/bot/message/quota", headers=headers, body=None)
    assert quota.body == {"type": "limited", "value": 4}

    assert _send(emulator, "multicast", users).status == 200
    refused = _send(emulator, "multicast", users[:2])
    assert (refused.status, refused.body["message"]) == (429, "You have reached your monthly limit.")
    assert _send(emulator, "push", users[0]).status == 200
    used = emulator.handle("GET", "/v2/bot/message/quota/consumption", headers=headers, body=None)
    assert used.body == {"totalUsage": 4}
