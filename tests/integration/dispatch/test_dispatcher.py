"""The dispatcher against the LINE emulator: multicasts, holds, refusals, quota, faults; never twice, never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from crm_core import dispatch, outbox
from crm_core.models import ChannelIdentity, Customer, OutboxBatch, OutboxMessage
from tests.integration.dispatch.conftest import SALE, outbox_rows, queue_campaign, requests_to, text


def _deliver_until_done(services, clock, *, rounds: int = 60) -> None:
    """Run the delivery job, moving the clock past every backoff, until nothing is left to send."""
    for _ in range(rounds):
        services.delivery.deliver_due()
        with services.uow_factory() as uow:
            if not dispatch.waiting(uow=uow):
                return
        clock.advance(minutes=10)
    raise AssertionError("the outbox never emptied")


@pytest.mark.parametrize("count", [2, 3])
def test_customers_who_get_the_same_message_get_one_multicast_with_a_retry_key(
    services, uow_factory, line, audience, count
):
    people = audience(count)  # two are already a multicast
    ids = queue_campaign(uow_factory, people, lambda index: SALE)

    report = services.delivery.deliver_due()

    assert (report.sent, report.requests, report.multicasts) == (count, 1, 1)
    [request] = requests_to(line, "multicast")
    assert sorted(request.json["to"]) == sorted(people.line_user_ids) and request.json["messages"] == SALE
    assert requests_to(line, "push") == []
    rows = outbox_rows(uow_factory, ids)
    assert {(row.status, row.sent_via, row.held_reason) for row in rows} == {("sent", "multicast", None)}
    with uow_factory() as uow:
        batch = uow.session.get(OutboxBatch, rows[0].batch_id)
    assert (batch.status, batch.retry_key) == ("sent", request.headers["x-line-retry-key"])
    assert all(line.messages_to(user) == SALE for user in people.line_user_ids)


def test_different_messages_go_as_pushes_each_with_its_rows_retry_key(services, uow_factory, line, audience):
    people = audience(3)
    ids = queue_campaign(uow_factory, people, lambda index: text(f"{index}さん、いつもありがとう"))

    assert services.delivery.deliver_due().sent == 3

    assert [r.status for r in requests_to(line, "push")] == [200, 200, 200]  # each request went once
    keys = sorted(r.headers["x-line-retry-key"] for r in requests_to(line, "push"))
    assert keys == sorted(row.retry_key for row in outbox_rows(uow_factory, ids))
    assert requests_to(line, "multicast") == []


def test_a_multicast_carries_at_most_500_recipients(services, uow_factory, line, audience):
    people = audience(1001)
    queue_campaign(uow_factory, people, lambda index: SALE)

    report = services.delivery.deliver_due()

    assert report.sent == 1001
    sizes = sorted(len(r.json["to"]) for r in requests_to(line, "multicast"))
    assert sizes == [500, 500] and len(requests_to(line, "push")) == 1  # the one left over goes alone
    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)


def test_a_multicast_whose_answer_was_lost_is_resent_under_its_key_and_shown_once(
    services, uow_factory, line, audience, clock, caplog
):
    people = audience(6)
    ids = queue_campaign(uow_factory, people, lambda index: SALE)
    line.chaos(0, lost=1.0)  # LINE takes the multicast, but its answer is a 500

    report = services.delivery.deliver_due()

    assert (report.sent, report.retry_later) == (0, 6)
    assert f"outbox {','.join(map(str, ids[:5]))} will be retried: LINE 500" in caplog.text  # the first five
    line.chaos(0)
    clock.advance(minutes=10)
    assert services.delivery.deliver_due().sent == 6
    first, second = requests_to(line, "multicast")
    assert first.headers["x-line-retry-key"] == second.headers["x-line-retry-key"] and second.status == 409
    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)
    assert {row.status for row in outbox_rows(uow_factory, ids)} == {"sent"}


def test_a_multicast_tried_again_after_a_customer_blocked_the_shop_goes_to_the_others_under_its_key(
    services, uow_factory, line, audience, clock
):
    people = audience(2)
    ids = queue_campaign(uow_factory, people, lambda index: SALE)
    line.fail_next("/v2/bot/message/multicast", 500)
    assert services.delivery.deliver_due().retry_later == 2
    with uow_factory() as uow:  # what the unfollow webhook writes
        identity = uow.session.exec(select(ChannelIdentity).where(ChannelIdentity.address == people.line_user_ids[0]))
        identity.one().blocked_at = uow.now()
        uow.commit()
    clock.advance(minutes=10)

    report = services.delivery.deliver_due()

    assert (report.sent, report.cancelled) == (1, 1)
    first, second = requests_to(line, "multicast")
    assert second.json["to"] == [people.line_user_ids[1]]
    assert second.headers["x-line-retry-key"] == first.headers["x-line-retry-key"]
    assert line.received_counts() == {people.line_user_ids[1]: 1}
    assert [(row.status, row.last_error) for row in outbox_rows(uow_factory, ids)][0] == ("cancelled", "blocked")


def test_a_customer_who_is_due_the_same_message_twice_is_named_once_in_a_multicast_and_pushed_the_other(
    services, uow_factory, line, audience
):
    people = audience(2)
    queue_campaign(uow_factory, people, lambda index: SALE)
    queue_campaign(uow_factory, type(people)(people.customer_ids[:1], people.line_user_ids[:1]), lambda index: SALE)

    assert services.delivery.deliver_due().sent == 3

    [multicast] = requests_to(line, "multicast")
    assert sorted(multicast.json["to"]) == sorted(people.line_user_ids)
    assert [r.json["to"] for r in requests_to(line, "push")] == [people.line_user_ids[0]]
    assert line.received_counts() == {people.line_user_ids[0]: 2, people.line_user_ids[1]: 1}


def test_a_push_whose_answer_was_lost_is_not_folded_into_a_multicast_under_a_new_key(
    services, uow_factory, line, audience, clock
):
    """LINE took the push; only its retry key keeps a second try from showing it twice."""
    people = audience(2)
    queue_campaign(uow_factory, type(people)(people.customer_ids[:1], people.line_user_ids[:1]), lambda index: SALE)
    line.chaos(0, lost=1.0)
    assert services.delivery.deliver_due().retry_later == 1
    line.chaos(0)
    queue_campaign(uow_factory, type(people)(people.customer_ids[1:], people.line_user_ids[1:]), lambda index: SALE)
    clock.advance(minutes=10)

    assert services.delivery.deliver_due().sent == 2

    assert [r.status for r in requests_to(line, "push")] == [500, 409, 200]  # the retry under its own key
    assert requests_to(line, "multicast") == []
    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)


def test_the_rows_of_a_multicast_say_a_try_is_under_way_before_it_leaves(
    services, uow_factory, line, audience, monkeypatch
):
    """Should the dispatcher die while LINE answers, the rows say so (and their batch is sent again whole)."""
    people = audience(2)
    ids = queue_campaign(uow_factory, people, lambda index: SALE)
    seen, answer = [], line.handle

    def answer_after_a_look(method, path, **kwargs):
        seen.append(
            [(row.sending_via, row.attempts, row.batch_id is not None) for row in outbox_rows(uow_factory, ids)]
        )
        return answer(method, path, **kwargs)

    monkeypatch.setattr(line, "handle", answer_after_a_look)

    assert services.delivery.deliver_due().sent == 2

    assert seen == [[("multicast", 1, True)] * 2]


def test_a_batch_written_before_a_crash_goes_whole_under_the_key_it_was_given(
    services, uow_factory, line, audience, clock
):
    """The dispatcher died after committing the batch and before (or while) its request left."""
    people = audience(3)
    ids = queue_campaign(uow_factory, people, lambda index: SALE)
    with uow_factory() as uow:
        batch = dispatch.create_batch(uow=uow, ids=ids)
        dispatch.start_attempts(uow=uow, ids=ids, via="multicast")
        uow.commit()
        key = batch.retry_key
    services.gateway.multicast(to=people.line_user_ids, messages=SALE, retry_key=key)  # it left; then SIGKILL

    assert services.delivery.deliver_due().sent == 3

    assert [r.status for r in requests_to(line, "multicast")] == [200, 409]
    assert {r.headers["x-line-retry-key"] for r in requests_to(line, "multicast")} == {key}
    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)


def test_line_refusing_a_multicast_fails_its_rows_with_lines_error(services, uow_factory, line, audience, caplog):
    people = audience(6)
    ids = queue_campaign(uow_factory, people, lambda index: SALE)
    line.fail_next("/v2/bot/message/multicast", 403)

    report = services.delivery.deliver_due()

    assert (report.failed, report.retry_later) == (6, 0)
    assert f"outbox {','.join(map(str, ids[:5]))} failed for good: LINE 403" in caplog.text  # the first five
    rows = outbox_rows(uow_factory, ids)
    assert {row.status for row in rows} == {"failed"}
    assert rows[0].last_error.startswith("LINE answered 403: ") and "not available" in rows[0].last_error
    with uow_factory() as uow:
        assert uow.session.get(OutboxBatch, rows[0].batch_id).status == "failed"


def test_a_429_with_retry_after_waits_at_least_that_long(services, uow_factory, line, audience, clock):
    people = audience(1)
    [message_id] = queue_campaign(uow_factory, people, lambda index: SALE)
    line.chaos(1.0, statuses=(429,), retry_after=120)

    assert services.delivery.deliver_due().retry_later == 1

    [row] = outbox_rows(uow_factory, [message_id])
    assert row.not_before >= clock.now() + timedelta(seconds=120)
    line.chaos(0)
    clock.advance(seconds=119)
    assert services.delivery.deliver_due().sent == 0
    clock.advance(seconds=30)
    assert services.delivery.deliver_due().sent == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_with_line_answering_429_and_500_at_random_everyone_gets_exactly_one(
    services, uow_factory, line, audience, clock, seed
):
    people = audience(240)
    # a third get the same sale (multicasts), the rest a personal note (pushes)
    queue_campaign(uow_factory, people, lambda index: SALE if index % 3 == 0 else text(f"{index}さんへ"))
    line.chaos(0.3, seed=seed, statuses=(429, 500, 503), lost=0.1)

    _deliver_until_done(services, clock)

    assert line.received_counts() == dict.fromkeys(people.line_user_ids, 1)
    faults = [r.status for r in line.requests if r.status in (429, 500, 503)]
    assert len(faults) > 20  # the faults happened: this is not a quiet run
    with uow_factory() as uow:
        statuses = set(uow.session.exec(select(OutboxMessage.status)))
    assert statuses == {"sent"}


# --- who may get it, and when ----------------------------------------------------------------------


def _jst(hour: int, minute: int = 0, day: int = 22) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=9)


def test_marketing_is_held_through_quiet_hours_and_goes_at_their_end(services, uow_factory, line, audience, clock):
    people = audience(2)
    clock.set(_jst(21, 0))  # 21:00 JST: quiet hours (21:00-09:00) begin
    marketing = queue_campaign(uow_factory, people, lambda index: SALE)
    [receipt] = queue_campaign(
        uow_factory,
        type(people)([people.customer_ids[0]], [people.line_user_ids[0]]),
        lambda index: text("レシート"),
        category="transactional",
    )

    report = services.delivery.deliver_due()

    assert (report.sent, report.held_quiet_hours) == (1, 2)  # the receipt goes; the sale waits
    for row in outbox_rows(uow_factory, marketing):
        assert (row.status, row.held_reason) == ("pending", "quiet_hours")
        assert row.not_before == _jst(9, 0, day=23)
    clock.set(_jst(8, 59, day=23))
    assert services.delivery.deliver_due().sent == 0
    clock.set(_jst(9, 0, day=23))
    assert services.delivery.deliver_due().sent == 2
    assert {(row.status, row.held_reason) for row in outbox_rows(uow_factory, marketing + [receipt])} == {
        ("sent", None)
    }


def test_marketing_goes_in_the_last_minute_before_quiet_hours(services, uow_factory, line, audience, clock):
    people = audience(1)
    clock.set(_jst(20, 59))
    queue_campaign(uow_factory, people, lambda index: SALE)
    assert services.delivery.deliver_due().sent == 1


def test_the_environments_quiet_hours_win_over_the_consoles(settings, clock, uow_factory, line, audience):
    from dataclasses import replace

    from bot.app import build_services

    people = audience(1)
    clock.set(_jst(23, 0))
    queue_campaign(uow_factory, people, lambda index: SALE)
    services = build_services(replace(settings, quiet_hours="off"), clock=clock, workers=1)
    try:
        assert services.delivery.deliver_due().sent == 1
    finally:
        services.pump.shutdown()
        services.engine.dispose()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda customer: setattr(customer, "marketing_opt_out", True), "opted_out"),
        (lambda customer: setattr(customer, "consented_at", None), "no_consent"),
    ],
)
def test_marketing_is_cancelled_with_the_reason_when_the_customer_may_no_longer_get_it(
    services, uow_factory, line, audience, change, reason
):
    people = audience(2, consented=False)
    with uow_factory() as uow:  # the first agreed on their customer record; the second never did
        customer = uow.session.get(Customer, people.customer_ids[0])
        customer.consented_at = uow.now()
        uow.commit()
    ids = queue_campaign(uow_factory, people, lambda index: SALE)
    with uow_factory() as uow:
        change(uow.session.get(Customer, people.customer_ids[0]))
        uow.commit()

    report = services.delivery.deliver_due()

    assert (report.cancelled, report.sent) == (2, 0)
    first, second = outbox_rows(uow_factory, ids)
    assert (first.status, first.last_error) == ("cancelled", reason)
    assert (second.status, second.last_error) == ("cancelled", "no_consent")
    assert line.received_counts() == {}


def test_an_opted_out_customer_still_gets_a_receipt(services, uow_factory, line, audience):
    people = audience(1)
    with uow_factory() as uow:
        uow.session.get(Customer, people.customer_ids[0]).marketing_opt_out = True
        uow.commit()
    queue_campaign(uow_factory, people, lambda index: text("レシート"), category="transactional")
    assert services.delivery.deliver_due().sent == 1


# --- LINE's monthly quota ----------------------------------------------------------------------------


def test_a_send_larger_than_the_quota_left_is_held_whole_with_a_warning(
    services, uow_factory, line, audience, caplog, clock
):
    people = audience(150)
    ids = queue_campaign(uow_factory, people, lambda index: text(f"{index}さんへ"))
    line.quota_limit = 100

    report = services.delivery.deliver_due()

    assert (report.sent, report.failed, report.held) == (0, 0, 150)
    assert requests_to(line, "push") == [] and line.consumed == 0  # stopped before, not halfway
    assert "monthly message quota has 100 message(s) left and this send needs 150" in caplog.text
    rows = outbox_rows(uow_factory, ids)
    assert {(row.status, row.held_reason) for row in rows} == {("pending", "quota")}
    assert {row.not_before for row in rows} == {clock.now() + timedelta(hours=1)}  # LINE is asked again in an hour

    line.quota_limit = 1000  # the shop raised its plan; an admin sends them again
    with uow_factory() as uow:
        assert outbox.requeue(uow=uow) == 150
        uow.commit()
    assert services.delivery.deliver_due().sent == 150
    assert line.consumed == 150


def test_the_quota_is_asked_once_per_delivery_and_counted_down_over_its_rounds(services, uow_factory, line, audience):
    """Three rounds of 120: LINE is asked once; the third round no longer fits the 300 left and waits."""
    people = audience(360)
    ids = queue_campaign(uow_factory, people, lambda index: text(f"{index}さんへ"))
    line.quota_limit = 300

    report = services.delivery.deliver_due(limit=120)

    assert [r.path for r in line.requests if r.path.endswith("/message/quota")] == ["/v2/bot/message/quota"]
    assert (report.sent, report.held) == (240, 120)
    assert line.consumed == 240  # no request was refused halfway
    held = [row.id for row in outbox_rows(uow_factory, ids) if row.held_reason == "quota"]
    assert held == ids[240:]


def test_a_send_within_the_quota_goes(services, uow_factory, line, audience):
    people = audience(120)
    queue_campaign(uow_factory, people, lambda index: SALE)
    line.quota_limit = 120
    assert services.delivery.deliver_due().sent == 120
    assert line.consumed == 120
