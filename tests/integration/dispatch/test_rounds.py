"""The dispatcher's runs: what a run reports, when it stops, how it counts LINE's quota down, its threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import MAX_PAUSE
from crm_core import dispatch
from tests.integration.dispatch.conftest import SALE, Audience, outbox_rows, queue_campaign, requests_to, text


def _quota_requests(line) -> list:
    return [r for r in line.requests if r.path.endswith("/message/quota")]


def _first(people: Audience, count: int) -> Audience:
    return Audience(people.customer_ids[:count], people.line_user_ids[:count])


def _after(people: Audience, start: int, count: int) -> Audience:
    return Audience(people.customer_ids[start : start + count], people.line_user_ids[start : start + count])


# --- what a run reports (the job's log line and `kizuna outbox deliver`) -----------------------------


def test_a_run_with_nothing_due_says_so(services):
    assert services.delivery.deliver_due().summary() == "nothing to deliver"
    assert services.delivery.deliver([]).summary() == "nothing to deliver"


def test_a_run_reports_what_it_sent_in_how_many_requests_to_how_many_customers(services, uow_factory, audience):
    people = audience(3)
    queue_campaign(uow_factory, people, lambda index: SALE)  # one multicast to three
    queue_campaign(uow_factory, _first(people, 1), lambda index: text("レシート"), category="transactional")

    report = services.delivery.deliver_due()

    assert report.summary() == (
        "sent 4, retry later 0, failed 0, cancelled 0, skipped 0, held for LINE's monthly quota 0, "
        "held for quiet hours 0; 2 request(s) to LINE (1 multicast) for 4 recipient(s)"
    )


def test_a_run_that_only_held_marketing_for_the_quiet_hours_says_so(services, uow_factory, audience, clock):
    clock.set(datetime(2026, 11, 22, 13, 0, tzinfo=UTC))  # 22:00 in Japan
    queue_campaign(uow_factory, audience(1), lambda index: SALE)

    report = services.delivery.deliver_due()

    assert report.summary() == (
        "sent 0, retry later 0, failed 0, cancelled 0, skipped 0, held for LINE's monthly quota 0, "
        "held for quiet hours 1; 0 request(s) to LINE (0 multicast) for 0 recipient(s)"
    )


def test_rows_delivered_by_id_go_at_once_and_those_another_deliverer_holds_are_skipped(
    services, uow_factory, line, audience
):
    """A receipt sent right after its commit; the second row is already another deliverer's."""
    people = audience(2)
    ids = queue_campaign(uow_factory, people, lambda index: text(f"{index}さんへ"), category="transactional")
    with uow_factory() as uow:
        assert [row.id for row in dispatch.claim_due(uow=uow, limit=1, ids=ids[1:])] == ids[1:]

    report = services.delivery.deliver(ids)

    assert (report.sent, report.skipped) == (1, 1)
    assert line.received_counts() == {people.line_user_ids[0]: 1}


# --- when a run stops ----------------------------------------------------------------------------------


def test_a_run_tries_a_row_once_even_when_line_answers_after_its_claim_lapsed(
    services, uow_factory, line, audience, clock, monkeypatch
):
    """LINE answers so slowly that the row is free to claim again before its answer is written: the run
    stops there instead of trying it again, so a run ends however long LINE keeps failing."""
    [message_id] = queue_campaign(uow_factory, audience(1), lambda index: text("レシート"), category="transactional")
    line.fail_next("/v2/bot/message/push", 500, times=1_000)
    answer = line.handle

    def slow_answer(*args, **kwargs):
        clock.advance(minutes=10)  # longer than a claim and than any backoff
        return answer(*args, **kwargs)

    monkeypatch.setattr(line, "handle", slow_answer)

    report = services.delivery.deliver_due()

    assert (report.retry_later, report.requests) == (1, 1)
    assert len(requests_to(line, "push")) == 1
    assert outbox_rows(uow_factory, [message_id])[0].status == "pending"  # for the next run


def test_a_run_with_a_time_budget_stops_after_the_round_that_spends_it(services, uow_factory, line, audience):
    """The console's "run now" delivers for a while; what is left goes with the next run of the job."""
    queue_campaign(uow_factory, audience(3), lambda index: text(f"{index}さんへ"), category="transactional")

    assert services.delivery.deliver_due(limit=1, max_seconds=0).sent == 1
    assert services.delivery.deliver_due(limit=1, max_seconds=60).sent == 2  # round after round within it


# --- LINE's monthly quota over a run's rounds ------------------------------------------------------------


def test_a_round_of_99_pushes_does_not_ask_line_for_the_quota(services, uow_factory, line, audience):
    queue_campaign(uow_factory, audience(99), lambda index: SALE)
    assert services.delivery.deliver_due().sent == 99
    assert _quota_requests(line) == []


def test_a_send_goes_anyway_when_line_cannot_say_how_much_of_the_quota_is_left(
    services, uow_factory, line, audience, caplog
):
    queue_campaign(uow_factory, audience(100), lambda index: SALE)
    line.fail_next("/v2/bot/message/quota", 500)

    assert services.delivery.deliver_due().sent == 100

    assert "could not ask LINE for the monthly quota (500); sending anyway" in caplog.text


@pytest.mark.parametrize(("quota", "last_goes"), [(150, False), (170, True)], ids=["none-left", "20-left"])
def test_the_quota_left_after_a_hold_is_what_the_messages_that_still_went_left(
    services, uow_factory, line, audience, clock, quota, last_goes
):
    """Rounds of 100: the first (100 marketing) fits; the second holds its 50 marketing and sends its 50
    receipts; the last message (marketing) goes only if those receipts left room for it."""
    people = audience(201)
    queue_campaign(uow_factory, _first(people, 100), lambda index: SALE)
    queue_campaign(uow_factory, _after(people, 100, 50), lambda index: text("レシート"), category="transactional")
    held = queue_campaign(uow_factory, _after(people, 150, 50), lambda index: SALE)
    [last] = queue_campaign(uow_factory, _after(people, 200, 1), lambda index: SALE)
    line.quota_limit = quota

    report = services.delivery.deliver_due(limit=100)

    assert len(_quota_requests(line)) == 1  # a round of 100 asks, once per run
    assert (report.sent, report.held) == (150 + last_goes, 50 + (not last_goes))
    assert line.consumed == 150 + last_goes
    assert {r.status for r in line.requests} == {200}  # nothing was sent for LINE to refuse
    waiting = [row.id for row in outbox_rows(uow_factory, held + [last]) if row.held_reason == "quota"]
    assert waiting == (held if last_goes else held + [last])
    for row in outbox_rows(uow_factory, waiting):
        assert row.not_before == clock.now() + timedelta(hours=1)


# --- how fast: LINE's "too fast", the sending threads -----------------------------------------------------


def test_a_429_pauses_the_next_push_for_its_retry_after_but_never_more_than_a_second(
    services, uow_factory, line, audience
):
    """The rows LINE refused wait their own backoff; the pushes behind them pause only briefly."""
    queue_campaign(uow_factory, audience(2), lambda index: text(f"{index}さんへ"), category="transactional")
    line.chaos(1.0, statuses=(429,), retry_after=10)  # "too many requests, come back in 10 s"

    assert services.delivery.deliver_due().retry_later == 2

    first, second = requests_to(line, "push")
    assert MAX_PAUSE <= second.at - first.at < 5


def test_closing_stops_the_sending_threads_and_the_next_run_starts_them_again(services, uow_factory, line, audience):
    people = audience(4)
    queue_campaign(uow_factory, people, lambda index: text(f"{index}さんへ"), category="transactional")
    before = set(threading.enumerate())
    assert services.delivery.deliver_due().sent == 4  # the first push alone, the rest on the threads
    threads = [t for t in threading.enumerate() if t not in before and t.name.startswith("kizuna-delivery")]
    assert threads

    services.delivery.close()

    assert not any(thread.is_alive() for thread in threads)
    services.delivery.close()  # a second close is harmless
    queue_campaign(uow_factory, people, lambda index: text(f"{index}さん、また"), category="transactional")
    assert services.delivery.deliver_due().sent == 4
    services.delivery.close()
