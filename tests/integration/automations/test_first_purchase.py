"""First-purchase thanks: due as soon as the purchase is recorded, decided once, and every skip recorded."""

from __future__ import annotations

import json
from datetime import timedelta

from crm_core import automations
from tests.integration.automations.conftest import TOKYO


def test_a_first_purchase_is_thanked_once_in_the_customers_language(shop, clock):
    shop.switch_on("first_purchase")
    hanako = shop.customer("山田 花子")
    john = shop.customer("John Smith", language="en")
    shop.buy(hanako, clock.now() - timedelta(minutes=1), "BEAN")
    shop.buy(john, clock.now() - timedelta(hours=2), "CAKE")

    report = shop.run()

    assert report.decided["first_purchase"]["send"] == 2
    rows = shop.outbox()
    assert [(r.customer_id, r.category, r.status) for r in rows] == [
        (hanako, "marketing", "pending"),
        (john, "marketing", "pending"),
    ]
    purchase_ids = [d.occurrence for d in shop.decisions()]
    assert rows[0].dedupe_key == f"auto:first_purchase:{hanako}:{purchase_ids[0]}"
    assert "山田 花子様、渋谷店で初めてのお買い物" in str(rows[0].messages)
    assert "John Smith, thank you for your first purchase at 渋谷店" in str(rows[1].messages)
    assert [d.outbox_id for d in shop.decisions()] == [r.id for r in rows]

    assert shop.run().total == 0  # running twice decides nothing twice
    assert len(shop.outbox()) == 2 and len(shop.decisions()) == 2


def test_no_thanks_for_an_old_first_purchase_nor_for_a_second_one(shop, clock):
    shop.switch_on("first_purchase")
    old = shop.customer("old")
    regular = shop.customer("regular")
    shop.buy(old, clock.now() - timedelta(days=3, seconds=1), "BEAN")  # before the automation was on
    shop.buy(regular, clock.now() - timedelta(days=100), "BEAN")
    shop.buy(regular, clock.now() - timedelta(minutes=5), "BEAN")

    assert shop.run().total == 0


def test_an_automation_that_is_off_decides_nothing_until_switched_on(shop, clock):
    customer = shop.customer()
    shop.buy(customer, clock.now(), "BEAN")
    assert shop.run().total == 0
    shop.switch_on("first_purchase")
    assert shop.run().decided["first_purchase"]["send"] == 1


def test_who_may_not_get_marketing_is_skipped_with_the_reason(shop, clock):
    shop.switch_on("first_purchase")
    ids = {
        "no_line": shop.customer("no line", line=False),
        "blocked": shop.customer("blocked", blocked=True),
        "unfollowed": shop.customer("unfollowed", followed=False),
        "no_consent": shop.customer("no consent", consented=False),
        "opted_out": shop.customer("opted out", opt_out=True),
        "ok": shop.customer("ok"),
    }
    for customer_id in ids.values():
        shop.buy(customer_id, clock.now(), "BEAN")

    shop.run()

    outcomes = shop.outcomes("first_purchase")
    assert {reason: outcomes[cid] for reason, cid in ids.items()} == {
        "no_line": ("skipped", "no_line"),
        "blocked": ("skipped", "blocked"),
        "unfollowed": ("skipped", "blocked"),
        "no_consent": ("skipped", "no_consent"),
        "opted_out": ("skipped", "opted_out"),
        "ok": ("send", None),
    }
    assert [row.customer_id for row in shop.outbox()] == [ids["ok"]]


def test_consent_given_on_line_counts(shop, clock, uow_factory):
    from crm_core.customers import line_identity_of

    shop.switch_on("first_purchase")
    customer = shop.customer("agreed on LINE", consented=False)
    with uow_factory() as uow:
        identity = line_identity_of(uow=uow, customer_id=customer)
        identity.consented_at = clock.now()
        uow.commit()
    shop.buy(customer, clock.now(), "BEAN")
    shop.run()
    assert shop.outcomes() == {customer: ("send", None)}


def test_the_weekly_cap_skips_at_exactly_the_cap(shop, clock, uow_factory):
    from crm_core import outbox

    shop.switch_on("first_purchase")
    with uow_factory() as uow:
        automations.set_weekly_cap(uow, 2)
        uow.commit()
    under, at_cap, old_ones, cancelled = (shop.customer(name) for name in ("under", "at", "old", "cancelled"))

    def marketing(customer_id, age, *, cancel=False):
        clock.set(clock.now() - age)
        with uow_factory() as uow:
            (row,) = outbox.enqueue(
                uow=uow, address=f"U{customer_id:032x}", messages=[{"type": "text", "text": "hi"}],
                category="marketing", customer_id=customer_id,
            )  # fmt: skip
            if cancel:
                outbox.cancel(uow=uow, message_id=row.id, reason="opted_out")
            uow.commit()
        clock.set(clock.now() + age)

    marketing(under, timedelta(days=1))
    marketing(at_cap, timedelta(days=1))
    marketing(at_cap, timedelta(days=6, hours=23, minutes=59, seconds=59))
    marketing(old_ones, timedelta(days=1))
    marketing(old_ones, timedelta(days=7))  # exactly 7 days ago: out of the window
    marketing(cancelled, timedelta(days=1))
    marketing(cancelled, timedelta(days=2), cancel=True)
    for customer_id in (under, at_cap, old_ones, cancelled):
        shop.buy(customer_id, clock.now(), "BEAN")

    shop.run()

    assert shop.outcomes() == {
        under: ("send", None),
        at_cap: ("skipped", "cap"),
        old_ones: ("send", None),
        cancelled: ("send", None),
    }


def test_an_erased_customer_is_never_decided_for(shop, clock, uow_factory):
    from crm_core.customers import erase_customer

    shop.switch_on("first_purchase")
    customer = shop.customer()
    shop.buy(customer, clock.now(), "BEAN")
    with uow_factory() as uow:
        erase_customer(uow=uow, customer_id=customer)
        uow.commit()
    assert shop.run().total == 0


def test_the_weekly_cap_counts_what_the_same_run_sent_before(shop, clock, uow_factory):
    """Two automations due for one customer in one run, a cap of 1: the first sends, the second is capped."""
    shop.switch_on("first_purchase", "birthday")
    with uow_factory() as uow:
        automations.set_weekly_cap(uow, 1)
        uow.commit()
    month = clock.now().astimezone(TOKYO).month
    both, birthday_only = shop.customer("both", birth_month=month), shop.customer("birthday", birth_month=month)
    shop.buy(both, clock.now(), "BEAN")

    shop.run()

    assert shop.outcomes("first_purchase") == {both: ("send", None)}
    assert shop.outcomes("birthday") == {both: ("skipped", "cap"), birthday_only: ("send", None)}


def test_rows_written_in_bulk_are_found_by_their_instant(shop, clock, uow_factory):
    """Decisions, hold-out groups and outbox rows are written past the ORM, yet stored as it stores them
    (on SQLite a timestamp is text: '10:00:00' would not equal the ORM's '10:00:00.000000')."""
    from sqlmodel import func, select

    from crm_core.models import AutomationDecision, AutomationHoldout, OutboxMessage

    shop.switch_on("first_purchase")
    shop.buy(shop.customer(), clock.now(), "BEAN")
    now = clock.now()
    assert now.microsecond == 0  # the case where the text would differ
    shop.run()
    day = shop.decisions()[0].business_day

    with uow_factory() as uow:
        count = lambda condition: uow.session.exec(select(func.count()).where(condition)).one()  # noqa: E731
        assert count(AutomationDecision.decided_at == now) == 1
        assert count(AutomationDecision.business_day == day) == 1
        assert count(AutomationHoldout.assigned_at == now) == 1
        assert count(OutboxMessage.created_at == now) == 1


def test_customers_getting_the_same_message_share_one_stored_body(shop, clock, uow_factory):
    """A campaign stores each distinct message once; each row keeps only its customer's name."""
    from sqlmodel import func, select

    from crm_core.models import OutboxBody

    shop.switch_on("first_purchase")
    names = ["山田 花子", 'Jo "the" O\\Brien', "佐藤 一郎"]
    for name in names:
        shop.buy(shop.customer(name), clock.now(), "BEAN")

    assert shop.run(chunk=1).decided["first_purchase"]["send"] == 3  # a chunk each: the body is stored once

    with uow_factory() as uow:
        assert uow.session.exec(select(func.count()).select_from(OutboxBody)).one() == 1
    rows = shop.outbox()
    assert [r.fill for r in rows] == ["山田 花子", 'Jo \\"the\\" O\\\\Brien', "佐藤 一郎"]  # as inside a JSON string
    for name, row in zip(names, rows, strict=True):
        assert json.dumps(name, ensure_ascii=False)[1:-1] in json.dumps(row.messages, ensure_ascii=False)


def test_erasing_a_customer_takes_their_name_out_of_messages_not_sent(shop, clock, uow_factory):
    from crm_core.customers import erase_customer

    shop.switch_on("first_purchase")
    customer = shop.customer("山田 花子")
    shop.buy(customer, clock.now(), "BEAN")
    shop.run()
    with uow_factory() as uow:
        erase_customer(uow=uow, customer_id=customer)
        uow.commit()

    (row,) = shop.outbox()
    assert (row.status, row.address, row.fill) == ("cancelled", "erased", None)
    assert "山田" not in str(row.messages)


def test_runs_at_the_same_moment_decide_each_customer_once(shop, clock):
    """Two schedulers' runs race over the same customers in small chunks: whichever stores a chunk
    first decides it; the other leaves it and goes on, and the shared bodies still arrive whole."""
    from tests.threads import together

    shop.switch_on("first_purchase")
    customers = [shop.customer(f"顧客 {n}") for n in range(12)]
    for customer in customers:
        shop.buy(customer, clock.now(), "BEAN")

    reports = together(3, lambda _: shop.run(chunk=4))

    assert not [r for r in reports if isinstance(r, Exception)]
    assert sum(r.decided["first_purchase"]["send"] for r in reports) == 12
    rows = shop.outbox()
    assert sorted(r.customer_id for r in rows) == customers
    assert all(f"顧客 {customers.index(row.customer_id)}様" in str(row.messages) for row in rows)
    assert shop.run().total == 0
