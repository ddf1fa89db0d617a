"""`kizuna outbox failed` and `kizuna outbox retry [ID|--all]`."""

from __future__ import annotations

import pytest
from sqlmodel import select

from crm_core import outbox
from crm_core.models import OutboxMessage

RECEIPT = [{"type": "text", "text": "レシート"}]


@pytest.fixture
def friend(line):
    user = line.add_user("山田 花子")
    line.follow(user)
    return user


def test_a_push_that_had_in_fact_arrived_is_sent_again_and_line_refuses_the_copy(
    run, line, friend, uow_factory, services
):
    with uow_factory() as uow:
        row = outbox.enqueue(uow=uow, address=friend, messages=RECEIPT, category="transactional")[0]
        outbox.start_attempt(uow=uow, message_id=row.id, via="push")
        uow.commit()
        message_id, retry_key = row.id, row.retry_key
    services.gateway.push(to=friend, messages=RECEIPT, retry_key=retry_key)  # LINE took it; the answer was lost
    with uow_factory() as uow:
        outbox.mark_attempt_failed(uow=uow, message_id=message_id, error="gave up: LINE answered 0", retry_in=None)
        uow.commit()

    listed = run("outbox", "failed")
    assert listed.exit_code == 0 and listed.output.startswith(f"{message_id}\ttransactional\t")
    result = run("outbox", "retry", str(message_id))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 message(s) queued again")

    assert services.delivery.deliver_due().sent == 1
    assert line.messages_to(friend) == RECEIPT  # once
    pushes = [r for r in line.requests if r.path.endswith("/push")]
    assert [(r.status, r.headers["x-line-retry-key"]) for r in pushes] == [(200, retry_key), (409, retry_key)]


def test_retry_all_lifts_the_quota_hold_and_refuses_bad_arguments(run, line, friend, uow_factory, services):
    with uow_factory() as uow:
        outbox.enqueue(uow=uow, address=friend, messages=RECEIPT, category="transactional")
        uow.commit()
    line.fail_next("/v2/bot/message/push", 429, message="You have reached your monthly limit.")
    assert services.delivery.deliver_due().held == 1

    assert run("outbox", "retry").exit_code == 2
    assert run("outbox", "retry", "7", "--all").exit_code == 2
    missing = run("outbox", "retry", "999")
    assert missing.exit_code == 1 and "No message 999 that could not be sent." in missing.output
    assert run("outbox", "retry", "--all").output.startswith("1 message(s) queued again")

    assert services.delivery.deliver_due().sent == 1
    with uow_factory() as uow:
        assert [row.status for row in uow.session.exec(select(OutboxMessage))] == ["sent"]
    assert line.messages_to(friend) == RECEIPT
