"""Per-day automation results and the hold-out comparison, counted from real rows in the database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crm_core import customers, outbox, stores
from crm_core.automations import results
from crm_core.automations.statistics import Sample, proportion_difference, welch_difference
from crm_core.models import AutomationDecision, Purchase

AUTOMATION = "first_purchase"


@pytest.fixture
def shop(uow_factory):
    with uow_factory() as uow:
        store = stores.upsert_store(uow=uow, code="S1", name="Shibuya")[0]
        uow.commit()
        return store.id


def _decide(uow, *, outcome, when, reason=None, occurrence="purchase:1", automation=AUTOMATION):
    """A decision as the automation writes it: `send` with its marketing outbox row in the same transaction."""
    customer = customers.create_customer(uow=uow, name="Customer", consented_at=when)
    outbox_id = None
    if outcome == "send":
        key = f"auto:{automation}:{customer.id}:{occurrence}"
        rows = outbox.enqueue(
            uow=uow,
            address=f"U{customer.id:032x}",
            messages=[{"type": "text", "text": "Thank you"}],
            category="marketing",
            customer_id=customer.id,
            dedupe_key=key,
        )
        outbox_id = rows[0].id
    uow.session.add(
        AutomationDecision(
            automation=automation,
            customer_id=customer.id,
            occurrence=occurrence,
            outcome=outcome,
            reason=reason,
            outbox_id=outbox_id,
            decided_at=when,
            business_day=(when + timedelta(hours=9)).date(),
        )
    )
    uow.session.flush()
    return customer.id, outbox_id


def _buy(uow, store_id, customer_id, when, total, refunded=0):
    uow.session.add(
        Purchase(
            customer_id=customer_id,
            store_id=store_id,
            total=total,
            refunded_total=refunded,
            occurred_at=when,
            created_at=when,
        )
    )


def test_a_day_counts_every_decision_by_what_became_of_it(uow_factory, clock, shop):
    decided = clock.now() - timedelta(days=12)  # 2026-11-10 03:00 UTC, business day 2026-11-10
    with uow_factory() as uow:
        messaged = [_decide(uow, outcome="send", when=decided) for _ in range(4)]
        held_out = [_decide(uow, outcome="holdout", when=decided)[0] for _ in range(4)]
        _decide(uow, outcome="skipped", reason="cap", when=decided)
        _decide(uow, outcome="skipped", reason="blocked", when=decided)
        (sent_1, row_1), (sent_2, row_2), (_failed, row_3), (_cancelled, row_4) = messaged
        outbox.mark_sent(uow=uow, message_id=row_1, via="push")
        outbox.mark_sent(uow=uow, message_id=row_2, via="push")
        outbox.mark_attempt_failed(
            uow=uow, message_id=row_3, error="LINE answered 400: The property, 'to', is invalid", retry_in=None
        )
        outbox.cancel(uow=uow, message_id=row_4, reason="opted_out")
        # followed within 7 days: two purchases, one buyer, ¥2,000
        _buy(uow, shop, sent_1, decided + timedelta(days=2), 1200)
        _buy(uow, shop, sent_1, decided + timedelta(days=6), 800)
        _buy(uow, shop, sent_2, decided - timedelta(days=1), 5000)  # before the message: not its doing
        _buy(uow, shop, sent_2, decided + timedelta(days=8), 5000)  # after the 7 days
        _buy(uow, shop, held_out[0], decided + timedelta(hours=1), 500)
        _buy(uow, shop, held_out[1], decided + timedelta(days=1), 800, refunded=800)  # all given back
        # a young decision (yesterday): counted per day, not yet in the comparison
        _decide(uow, outcome="send", when=clock.now() - timedelta(days=1))
        _decide(uow, outcome="holdout", when=clock.now() - timedelta(days=1))
        uow.commit()

    with uow_factory() as uow:
        found = results.results(uow=uow, automation=AUTOMATION, since=date(2026, 11, 1), until=date(2026, 11, 22))

    young, day = found.days
    assert (young.day, day.day) == (date(2026, 11, 21), date(2026, 11, 10))
    assert (day.decided, day.sent, day.holdout) == (10, 2, 4)
    assert day.skipped == {"cap": 1, "blocked": 1}
    assert day.cancelled == {"opted_out": 1}
    assert day.failed == {"LINE answered 400: The property, 'to', is invalid": 1}
    assert day.buyers == {"send": 1, "holdout": 1}
    assert (young.decided, young.held, young.holdout) == (2, {"queued": 1}, 1)
    assert (found.totals.decided, found.totals.sent, found.totals.waiting) == (12, 2, 1)

    comparison = found.comparison
    assert comparison.too_young == 2
    assert comparison.messaged == results.Group(customers=4, buyers=1, revenue=2000, squares=2000**2)
    assert comparison.held_out == results.Group(customers=4, buyers=1, revenue=500, squares=500**2)
    assert comparison.messaged.revenue_per_customer == 500
    assert comparison.purchase_rate == proportion_difference(1, 4, 1, 4)
    assert comparison.revenue_per_customer == welch_difference(Sample(4, 2000, 2000**2), Sample(4, 500, 500**2))
    assert comparison.revenue_per_customer.estimate == 375


def test_the_seven_days_end_exactly_a_week_after_the_decision(uow_factory, clock, shop):
    week_ago = clock.now() - timedelta(days=7)
    with uow_factory() as uow:
        on_time, _row = _decide(uow, outcome="send", when=week_ago)
        late, _row = _decide(uow, outcome="send", when=week_ago)
        _buy(uow, shop, on_time, week_ago + timedelta(days=7), 1000)  # the last moment of its week: counts
        _buy(uow, shop, late, week_ago + timedelta(days=7, seconds=1), 1000)  # one second later: does not
        _decide(uow, outcome="holdout", when=week_ago + timedelta(seconds=1))  # a second short of its week
        uow.commit()

    with uow_factory() as uow:
        found = results.results(uow=uow, automation=AUTOMATION, since=date(2026, 11, 1), until=date(2026, 11, 22))

    assert found.comparison.messaged == results.Group(customers=2, buyers=1, revenue=1000, squares=1000**2)
    assert found.comparison.held_out.customers == 0
    assert found.comparison.too_young == 1
    assert found.comparison.purchase_rate is None  # no hold-out group yet: nothing to compare


def test_recent_totals_sum_each_automation_over_the_days_asked(uow_factory, clock, shop):
    with uow_factory() as uow:
        for days_ago in (0, 3, 6, 7):
            _decide(uow, outcome="send", when=clock.now() - timedelta(days=days_ago))
        _decide(uow, outcome="skipped", reason="no_consent", when=clock.now(), automation="birthday")
        message_id = _decide(uow, outcome="send", when=clock.now(), automation="birthday")[1]
        outbox.hold_for_quota(uow=uow, message_id=message_id, error="You have reached your monthly limit.")
        uow.commit()

    with uow_factory() as uow:
        totals = results.recent_totals(uow=uow, since=date(2026, 11, 16), until=date(2026, 11, 22))

    assert (totals[AUTOMATION].decided, totals[AUTOMATION].waiting) == (3, 3)  # the one 7 days ago is outside
    assert totals["birthday"].skipped == {"no_consent": 1}
    assert totals["birthday"].held == {"quota": 1}
