"""The till: store choice, scanning (card code, member number), sales once per form, paying with points,
undoing today's sales, tickets bound to the staff member, receipts on LINE."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event
from sqlmodel import select

from crm_core import cards, channels, customers, loyalty, membership, points, stores
from crm_core import till as till_service
from crm_core.errors import InsufficientPoints
from crm_core.models import OutboxMessage, PointEntry, Purchase, Store, TimelineEntry
from tests.integration.console.conftest import PASSWORD, csrf_token, log_in
from tests.threads import together

TILL = "/console/till"
SECRET = "test-secret-key-" + "x" * 32
_HIDDEN = re.compile(r'name="(ticket|key|csrf_token)" value="([^"]+)"')


@pytest.fixture
def shop(uow_factory) -> dict:
    """Two stores and a member with 500 usable points (no LINE)."""
    with uow_factory() as uow:
        for code, name in (("SHIBUYA", "渋谷店"), ("UMEDA", "梅田店")):
            uow.session.add(Store(code=code, name=name, created_at=uow.now()))
        customer = customers.create_customer(uow=uow, name="山田 花子")
        points.grant(uow=uow, customer_id=customer.id, amount=500, idempotency_key="welcome")
        uow.commit()
        stores = {store.code: store.id for store in uow.session.exec(select(Store))}
        return {"customer_id": customer.id, "member_number": customer.member_number, "stores": stores}


@pytest.fixture
def till(as_role, shop):
    """A staff member logged in, with the till set to Shibuya."""
    client = as_role("staff")
    response = client.post(
        "/console/till/store", data={"store_id": shop["stores"]["SHIBUYA"], "csrf_token": csrf_token(client, TILL)}
    )
    assert response.status_code == 302
    return client


def card_code(clock, customer_id: int, **extra) -> str:
    return cards.issue(secret=SECRET, purpose=cards.CARD, customer_id=customer_id, now=clock.now(), **extra)


def open_customer(client, code: str):
    """Scan `code` and follow to the customer screen; returns (response, the form fields on it)."""
    response = client.post("/console/till/scan", data={"code": code, "csrf_token": csrf_token(client, "/console/till")})
    if response.status_code != 302:
        return response, {}
    page = client.get(response.headers["Location"])
    return page, dict(_HIDDEN.findall(page.get_data(as_text=True)))


def sell(client, fields: dict, **data):
    return client.post("/console/till/sale", data={**fields, **data})


def balance(uow_factory, customer_id: int) -> int:
    with uow_factory() as uow:
        return points.balance_of(uow=uow, customer_id=customer_id)


def purchases_of(uow_factory, customer_id: int) -> list[Purchase]:
    with uow_factory() as uow:
        return list(uow.session.exec(select(Purchase).where(Purchase.customer_id == customer_id)))


def test_scan_the_card_code_opens_the_customer(till, shop, clock):
    page, fields = open_customer(till, card_code(clock, shop["customer_id"]))

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "山田 花子" in text and shop["member_number"] in text
    assert 'data-field="points_available" data-testid="till-balance">500<' in text
    assert 'data-field="tier">Regular<' in text
    assert fields["ticket"].startswith("KZV")  # opened by the card itself: the customer may pay with points
    assert re.fullmatch(r"[0-9a-f]{32}", fields["key"])
    assert 'data-field="card_needed"' not in text


def test_scan_by_member_number_with_full_width_digits(till, shop):
    typed = shop["member_number"].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    page, fields = open_customer(till, typed)

    assert page.status_code == 200 and "山田 花子" in page.get_data(as_text=True)
    assert fields["ticket"].startswith("KZT")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("KZCAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "This point card code is not valid."),
        ("1234567890", "Scan the point card, or type the 10-digit member number."),
        ("hello", "Scan the point card, or type the 10-digit member number."),
    ],
)
def test_forged_or_nonsense_codes_are_refused(till, code, message):
    response, _ = open_customer(till, code)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_changed_character_or_an_expired_code_is_refused(till, shop, clock):
    code = card_code(clock, shop["customer_id"])
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert "not valid" in open_customer(till, forged)[0].get_data(as_text=True)

    old = card_code(clock, shop["customer_id"])
    clock.advance(minutes=6)
    response, _ = open_customer(till, old)
    assert response.status_code == 400
    assert "This point card code has expired." in response.get_data(as_text=True)


def test_unknown_member_number(till, shop, uow_factory):
    with uow_factory() as uow:
        number = customers.new_member_number(uow=uow)
    response, _ = open_customer(till, number)

    assert response.status_code == 400 and f"No member has the number {number}." in response.get_data(as_text=True)


def test_a_purchase_credits_once_even_when_the_form_is_posted_twice(till, shop, uow_factory):
    _, fields = open_customer(till, shop["member_number"])

    first = sell(till, fields, total="3,240")
    again = sell(till, fields, total="3,240")

    assert first.status_code == again.status_code == 302
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])
    assert (purchase.total, purchase.points_earned, purchase.source) == (3240, 32, "till")
    assert purchase.store_id == shop["stores"]["SHIBUYA"] and purchase.staff_user_id is not None
    assert balance(uow_factory, shop["customer_id"]) == 532
    page = till.get(again.headers["Location"]).get_data(as_text=True)
    assert "Recorded ¥3,240: 32 points earned, 0 used. Balance: 532 points." in page
    assert page.count("data-sale=") == 1
    assert 'data-testid="till-balance">532<' in page


def test_a_purchase_with_items(till, shop, uow_factory):
    _, fields = open_customer(till, shop["member_number"])
    items = {"item_sku": ["T-1", "C-2", ""], "item_name": ["Tea", "Cake", ""], "item_qty": ["2", "1", ""]}
    response = sell(till, fields, total="", item_price=["1,000", "¥500", ""], **items)

    assert response.status_code == 302
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])
    assert purchase.total == 2500

    _, fields = open_customer(till, shop["member_number"])
    wrong = sell(till, fields, total="3000", item_sku="T-1", item_name="Tea", item_qty="1", item_price="100")
    assert wrong.status_code == 400 and "The items do not add up to the total." in wrong.get_data(as_text=True)


@pytest.mark.parametrize(
    ("total", "message"),
    [
        ("-100", "The total must be whole numbers, like 3,240."),
        ("12.5", "The total must be whole numbers, like 3,240."),
        ("", "Enter the total in yen (more than ¥0)."),
        ("0", "Enter the total in yen (more than ¥0)."),
    ],
)
def test_bad_amounts_change_nothing(till, shop, uow_factory, total, message):
    _, fields = open_customer(till, shop["member_number"])
    response = sell(till, fields, total=total)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []
    assert balance(uow_factory, shop["customer_id"]) == 500


def test_pay_with_points(till, shop, clock, uow_factory, services):
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    response = sell(till, fields, total="3240", points="300")

    assert response.status_code == 302
    assert balance(uow_factory, shop["customer_id"]) == 500 - 300 + 29  # earned on the ¥2,940 paid in yen
    with uow_factory() as uow:
        (spend,) = uow.session.exec(select(PointEntry).where(PointEntry.kind == "spend")).all()
        (purchase,) = uow.session.exec(select(Purchase)).all()
    assert (spend.amount, spend.purchase_id, spend.store_id) == (-300, purchase.id, shop["stores"]["SHIBUYA"])
    assert spend.staff_user_id == purchase.staff_user_id is not None
    page = till.get(response.headers["Location"]).get_data(as_text=True)
    assert "29 points earned, 300 used. Balance: 229 points." in page


@pytest.mark.parametrize("wanted", ["600", "700"])
def test_too_many_points_are_refused_and_nothing_is_recorded(till, shop, clock, uow_factory, wanted):
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    response = sell(till, fields, total="10000", points=wanted)  # 500 held; the sale's own 100 do not count

    assert response.status_code == 400
    assert "Not enough points: 500 available." in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []
    assert balance(uow_factory, shop["customer_id"]) == 500


def test_a_ticket_from_another_staff_member_or_for_another_purpose_is_refused(
    till, shop, app, accounts, uow_factory, clock
):
    _, fields = open_customer(till, shop["member_number"])
    other = app.test_client()
    with other.session_transaction() as session:
        session["lang"] = "en"
    assert log_in(other, accounts["marketer"], PASSWORD).status_code == 302
    other.post(
        "/console/till/store", data={"store_id": shop["stores"]["SHIBUYA"], "csrf_token": csrf_token(other, TILL)}
    )
    token = csrf_token(other, "/console/till")

    stolen = other.post("/console/till/sale", data={**fields, "csrf_token": token, "total": "1000"})
    card = card_code(clock, shop["customer_id"])
    wrong_purpose = sell(till, fields, ticket=card, total="1000")
    unbound = cards.issue(secret=SECRET, purpose=cards.TILL, customer_id=shop["customer_id"], now=clock.now())
    not_bound = sell(till, fields, ticket=unbound, total="1000")

    for response in (stolen, wrong_purpose, not_bound):
        assert response.status_code == 400
        assert "This point card code is not valid." in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []


def test_an_old_ticket_asks_to_scan_again(till, shop, uow_factory, clock):
    _, fields = open_customer(till, shop["member_number"])
    clock.advance(minutes=16)
    till.get("/console/till")  # keep the session alive (idle timeout is 30 minutes)

    response = sell(till, fields, total="1000")

    assert response.status_code == 400
    assert "This customer screen has timed out. Scan the card again." in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []


def undo(client, fields, purchase_id, **data):
    return client.post(
        "/console/till/undo",
        data={"csrf_token": fields["csrf_token"], "ticket": fields["ticket"], "purchase_id": purchase_id, **data},
    )


def test_undo_a_sale_today_refunds_and_gives_the_points_back(till, shop, clock, uow_factory):
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    sell(till, fields, total="3240", points="100")
    assert balance(uow_factory, shop["customer_id"]) == 431
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])

    no_reason = undo(till, fields, purchase.id, what="sale", reason=" ")
    assert no_reason.status_code == 400 and "Please give a reason for the undo." in no_reason.get_data(as_text=True)
    done = undo(till, fields, purchase.id, what="sale", reason="wrong amount")
    page = till.get(done.headers["Location"]).get_data(as_text=True)
    twice = undo(till, fields, purchase.id, what="sale", reason="wrong amount")

    assert "The sale was undone: 31 points taken back, 100 points given back." in page
    assert twice.status_code == 400 and "This entry was already undone." in twice.get_data(as_text=True)
    assert balance(uow_factory, shop["customer_id"]) == 500
    with uow_factory() as uow:
        purchase = uow.session.get(Purchase, purchase.id)
        assert purchase.refunded_total == 3240  # a reversal, never a deletion
        assert points.ledger_balance(uow=uow, customer_id=shop["customer_id"]) == 500
        (note,) = uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "till_undo")).all()
        assert note.staff_user_id is not None and note.data["reason"] == "wrong amount"


def test_give_back_only_the_points_payment(till, shop, clock, uow_factory):
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    sell(till, fields, total="3240", points="100")
    with uow_factory() as uow:
        (spend,) = uow.session.exec(select(PointEntry).where(PointEntry.kind == "spend")).all()

    response = undo(till, fields, spend.purchase_id, what="points", entry_id=spend.id, reason="paid cash instead")

    assert response.status_code == 302
    assert balance(uow_factory, shop["customer_id"]) == 531
    assert purchases_of(uow_factory, shop["customer_id"])[0].refunded_total == 0


def test_undo_is_refused_the_next_day_and_at_another_store(till, shop, uow_factory, clock, accounts):
    _, fields = open_customer(till, shop["member_number"])
    sell(till, fields, total="3240")
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])

    till.post("/console/till/store", data={"store_id": shop["stores"]["UMEDA"], "csrf_token": fields["csrf_token"]})
    elsewhere = undo(till, fields, purchase.id, what="sale", reason="typo")
    assert elsewhere.status_code == 400
    assert "No such sale for this customer at this store." in elsewhere.get_data(as_text=True)

    clock.advance(days=1)
    assert log_in(till, accounts["staff"]).status_code == 302  # yesterday's session has ended
    till.post("/console/till/store", data={"store_id": shop["stores"]["SHIBUYA"], "csrf_token": csrf_token(till, TILL)})
    _, fields = open_customer(till, shop["member_number"])
    late = undo(till, fields, purchase.id, what="sale", reason="typo")

    assert late.status_code == 400
    assert "Only today&#39;s entries can be undone" in late.get_data(as_text=True)
    assert balance(uow_factory, shop["customer_id"]) == 532


def test_unknown_store_is_refused_and_a_store_is_needed(as_role, shop):
    client = as_role("staff")
    token = csrf_token(client, "/console/till")
    page = client.get("/console/till").get_data(as_text=True)
    assert "Which store is this till in?" in page and "渋谷店" in page

    response = client.post("/console/till/store", data={"store_id": "99999", "csrf_token": token})
    assert response.status_code == 400
    assert "There is no such store." in response.get_data(as_text=True)
    scan = client.post("/console/till/scan", data={"code": shop["member_number"], "csrf_token": token})
    assert scan.status_code == 400 and "Choose the store first." in scan.get_data(as_text=True)


def test_a_store_deleted_meanwhile_is_asked_again(till, shop, uow_factory):
    _, fields = open_customer(till, shop["member_number"])
    with till.session_transaction() as session:
        session["till_store_id"] = 99999
    response = sell(till, fields, total="1000")

    assert response.status_code == 400 and "Choose the store first." in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []


def test_a_closed_store_is_not_offered_and_a_till_set_to_it_asks_again(till, shop, uow_factory):
    _, fields = open_customer(till, shop["member_number"])
    sell(till, fields, total="1000")
    with uow_factory() as uow:
        stores.close_store(uow=uow, code="SHIBUYA")
        uow.commit()

    response = sell(till, fields, total="2000", key="b" * 32)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This store was closed. Please choose the store this till is in." in page
    assert "梅田店" in page and "渋谷店" not in page, "only open stores are offered"
    assert len(purchases_of(uow_factory, shop["customer_id"])) == 1
    home = till.get(TILL).get_data(as_text=True)
    assert "This store was closed." in home and "Which store is this till in?" in home
    chosen = till.post(
        "/console/till/store", data={"store_id": shop["stores"]["SHIBUYA"], "csrf_token": fields["csrf_token"]}
    )
    assert chosen.status_code == 400 and "There is no such store." in chosen.get_data(as_text=True)

    till.post("/console/till/store", data={"store_id": shop["stores"]["UMEDA"], "csrf_token": fields["csrf_token"]})
    _, fields = open_customer(till, shop["member_number"])
    assert sell(till, fields, total="2000").status_code == 302
    history = till.get(f"/console/customers/{shop['customer_id']}").get_data(as_text=True)
    assert "渋谷店" in history and "梅田店" in history, "the closed store's sale stays in the history"


def test_the_till_needs_a_login_and_csrf(client, till, shop, uow_factory):
    anonymous = client.application.test_client()
    response = anonymous.get("/console/till")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    assert anonymous.post("/console/till/sale", data={"total": "1000"}).status_code == 400  # no CSRF token

    _, fields = open_customer(till, shop["member_number"])
    no_csrf = till.post("/console/till/sale", data={"ticket": fields["ticket"], "key": fields["key"], "total": "1"})
    assert no_csrf.status_code == 400
    assert purchases_of(uow_factory, shop["customer_id"]) == []


def test_staff_cannot_adjust_but_a_marketer_can(till, shop, app, accounts, uow_factory):
    _, fields = open_customer(till, shop["member_number"])
    refused = till.post("/console/till/adjust", data={**fields, "amount": "100", "reason": "goodwill"})
    assert refused.status_code == 403

    marketer = app.test_client()
    with marketer.session_transaction() as session:
        session["lang"] = "en"
    log_in(marketer, accounts["marketer"])
    marketer.post(
        "/console/till/store", data={"store_id": shop["stores"]["SHIBUYA"], "csrf_token": csrf_token(marketer, TILL)}
    )
    page, fields = open_customer(marketer, shop["member_number"])
    assert "Adjust the points by hand" in page.get_data(as_text=True)

    no_reason = marketer.post("/console/till/adjust", data={**fields, "amount": "100", "reason": ""})
    assert no_reason.status_code == 400 and "A manual adjustment needs a reason." in no_reason.get_data(as_text=True)
    for _ in range(2):
        assert (
            marketer.post("/console/till/adjust", data={**fields, "amount": "-50", "reason": "typo"}).status_code == 302
        )
    assert balance(uow_factory, shop["customer_id"]) == 450


def test_a_receipt_goes_to_the_customers_line(till, shop, line, uow_factory, services, clock):
    line_user_id = line.add_user("山田 花子")
    line.follow(line_user_id)
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address=line_user_id)
        identity.followed = True
        channels.record_consent(uow=uow, identity=identity, notice_version="v")
        customer = customers.get_customer(uow=uow, customer_id=shop["customer_id"])
        membership._attach(uow=uow, identity=identity, customer=customer)
        uow.commit()
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))

    sell(till, fields, total="3240", points="100")
    sell(till, fields, total="3240", points="100")
    services.pump.wait_idle()

    (receipt,) = line.messages_to(line_user_id)
    assert "¥3,240" in str(receipt)
    with uow_factory() as uow:
        (row,) = uow.session.exec(select(OutboxMessage)).all()
    assert row.category == "transactional" and row.customer_id == shop["customer_id"]


def test_today_lists_only_this_customers_sales_here(till, shop, uow_factory, clock):
    _, fields = open_customer(till, shop["member_number"])
    sell(till, fields, total="1000")
    clock.advance(minutes=1)
    page, fields = open_customer(till, shop["member_number"])
    sell(till, fields, total="2000")
    page = till.get("/console/till/customer", query_string={"t": fields["ticket"]}).get_data(as_text=True)

    assert page.count("data-sale=") == 2 and "¥2,000" in page and "¥1,000" in page
    till.post("/console/till/store", data={"store_id": shop["stores"]["UMEDA"], "csrf_token": fields["csrf_token"]})
    elsewhere = till.get("/console/till/customer", query_string={"t": fields["ticket"]}).get_data(as_text=True)
    assert "data-sale=" not in elsewhere and "No purchases here today." in elsewhere


def test_the_same_sale_tapped_at_once_on_many_devices_credits_once(shop, uow_factory, services):
    def tap(n):
        return till_service.sell(
            uow_factory=uow_factory,
            customer_id=shop["customer_id"],
            store_id=shop["stores"]["SHIBUYA"],
            staff_user_id=None,
            key="a" * 32,
            total=3240,
            points_to_spend=100,
            zone=services.settings.zone,
        )

    results = together(8, tap)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert {(r.purchase_id, r.points_earned, r.points_spent, r.points_balance) for r in results} == {
        (results[0].purchase_id, 31, 100, 431)
    }
    assert len(purchases_of(uow_factory, shop["customer_id"])) == 1


def test_two_sales_at_once_cannot_spend_the_same_points(shop, uow_factory, services):
    def sale(n):
        return till_service.sell(
            uow_factory=uow_factory,
            customer_id=shop["customer_id"],
            store_id=shop["stores"]["SHIBUYA" if n % 2 else "UMEDA"],
            staff_user_id=None,
            key=f"{n:032x}",
            total=3240,
            points_to_spend=300,
            zone=services.settings.zone,
        )

    results = together(4, sale)

    done = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(done) == 1 and len(refused) == 3  # 500 held: one sale of 300 fits, the others are refused
    with uow_factory() as uow:
        assert points.balance_of(uow=uow, customer_id=shop["customer_id"]) == 500 - 300 + 29
        assert points.ledger_balance(uow=uow, customer_id=shop["customer_id"]) == 229
    assert len(purchases_of(uow_factory, shop["customer_id"])) == 1


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_till_pages_render_in_both_languages(till, shop, lang, clock):
    with till.session_transaction() as session:
        session["lang"] = lang
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    sell(till, fields, total="3240", points="100")
    pages = [till.get("/console/till"), till.get("/console/till", query_string={"change": "1"})]
    pages.append(till.get("/console/till/customer", query_string={"t": fields["ticket"]}))
    pages.append(sell(till, fields, total="-1"))
    for page in pages:
        text = page.get_data(as_text=True)
        assert f'<html lang="{lang}">' in text
        assert "{{" not in text and "%(" not in text
    assert "data-sale=" in pages[2].get_data(as_text=True)


def test_each_till_request_reads_in_one_transaction_and_few_statements(till, shop, services, clock):
    """Scan, customer page, sale, credit page: one transaction each (the sale two: read, then write)."""
    csrf = csrf_token(till, TILL)
    till.post(TILL + "/sale", data={})  # warm up (a refused form), outside the counting
    seen = {"transactions": 0, "statements": 0}

    def begun(*_):
        seen["transactions"] += 1

    def executed(_connection, _cursor, statement, *_):
        seen["statements"] += not statement.startswith("BEGIN")  # SQLite's BEGIN IMMEDIATE is a statement

    def measure(request):
        seen.update(transactions=0, statements=0)
        response = request()
        return response, dict(seen)

    event.listen(services.engine, "begin", begun)
    event.listen(services.engine, "before_cursor_execute", executed)
    try:
        scan, scanned = measure(
            lambda: till.post(TILL + "/scan", data={"code": card_code(clock, shop["customer_id"]), "csrf_token": csrf})
        )
        page, paged = measure(lambda: till.get(scan.headers["Location"]))
        fields = dict(_HIDDEN.findall(page.get_data(as_text=True)))
        sale, sold = measure(lambda: sell(till, fields, total="3,240", points="100"))
        credit, credited = measure(lambda: till.get(sale.headers["Location"]))
    finally:
        event.remove(services.engine, "begin", begun)
        event.remove(services.engine, "before_cursor_execute", executed)

    assert (scan.status_code, page.status_code, sale.status_code, credit.status_code) == (302, 200, 302, 200)
    assert "Recorded ¥3,240: 31 points earned, 100 used. Balance: 431 points." in credit.get_data(as_text=True)
    counted = [scanned, paged, sold, credited]
    assert [each["transactions"] for each in counted] == [1, 1, 2, 1]
    assert scanned["statements"] <= 3 and paged["statements"] <= 9 and credited["statements"] <= 9


def test_a_member_number_alone_cannot_pay_with_points(till, shop, uow_factory):
    page, fields = open_customer(till, shop["member_number"])
    assert "Scan the point card's QR code to let the customer pay with points." in page.get_data(as_text=True)

    response = sell(till, fields, total="3240", points="100")

    assert response.status_code == 400
    assert "Paying with points needs the customer&#39;s point card" in response.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []
    assert balance(uow_factory, shop["customer_id"]) == 500
    assert sell(till, fields, total="3240").status_code == 302, "earning needs no card"
    assert balance(uow_factory, shop["customer_id"]) == 532


def test_an_admin_may_let_a_member_number_pay_with_points_with_a_reason(as_role, shop, uow_factory):
    admin = as_role("admin")
    admin.post(
        "/console/till/store", data={"store_id": shop["stores"]["SHIBUYA"], "csrf_token": csrf_token(admin, TILL)}
    )
    page, fields = open_customer(admin, shop["member_number"])
    assert 'name="points_reason"' in page.get_data(as_text=True)

    no_reason = sell(admin, fields, total="3240", points="100")
    assert no_reason.status_code == 400
    assert "Type a reason to let the customer pay with points without the card." in no_reason.get_data(as_text=True)
    assert purchases_of(uow_factory, shop["customer_id"]) == []

    done = sell(admin, fields, total="3240", points="100", points_reason="phone died, ID checked")
    assert done.status_code == 302
    assert balance(uow_factory, shop["customer_id"]) == 500 - 100 + 31
    with uow_factory() as uow:
        (note,) = uow.session.exec(select(TimelineEntry).where(TimelineEntry.kind == "points_without_card")).all()
    assert note.staff_user_id is not None and note.data["reason"] == "phone died, ID checked"
    assert note.data["points"] == 100
    history = admin.get(f"/console/customers/{shop['customer_id']}").get_data(as_text=True)
    assert "Paid with points without showing the card (an admin allowed it)" in history


def test_the_till_says_what_points_are_earned_on(till, shop, uow_factory):
    page, _ = open_customer(till, shop["member_number"])
    assert "Points are earned on the amount paid in yen." in page.get_data(as_text=True)
    with uow_factory() as uow:
        loyalty.save_program(uow=uow, program=loyalty.Program(earn_on="gross"))
        uow.commit()
    page, _ = open_customer(till, shop["member_number"])
    assert "Points are earned on the whole total, points used included." in page.get_data(as_text=True)


def _on_line(line, uow_factory, customer_id: int) -> str:
    line_user_id = line.add_user("山田 花子")
    line.follow(line_user_id)
    with uow_factory() as uow:
        identity = channels.ensure_identity(uow=uow, address=line_user_id)
        identity.followed = True
        channels.record_consent(uow=uow, identity=identity, notice_version="v")
        membership._attach(
            uow=uow, identity=identity, customer=customers.get_customer(uow=uow, customer_id=customer_id)
        )
        uow.commit()
    return line_user_id


def test_giving_points_back_and_undoing_a_sale_tell_the_customer_on_line(
    till, shop, line, uow_factory, services, clock
):
    line_user_id = _on_line(line, uow_factory, shop["customer_id"])
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    sell(till, fields, total="3240", points="100")
    with uow_factory() as uow:
        (spend,) = uow.session.exec(select(PointEntry).where(PointEntry.kind == "spend")).all()

    services.pump.wait_idle()
    undo(till, fields, spend.purchase_id, what="points", entry_id=spend.id, reason="paid cash instead")
    services.pump.wait_idle()
    undo(till, fields, spend.purchase_id, what="sale", reason="wrong customer")
    services.pump.wait_idle()

    receipt, returned, cancelled = (m["text"] for m in line.messages_to(line_user_id))
    assert "¥3,240" in receipt
    assert "The points you paid with at 渋谷店" in returned or "お支払いに使ったポイントをお返ししました" in returned
    assert "100 pt" in returned and "531 pt" in returned
    assert "¥3,240" in cancelled and ("was cancelled" in cancelled or "取り消されました" in cancelled)
    assert "31 pt" in cancelled and "500 pt" in cancelled
    with uow_factory() as uow:
        rows = uow.session.exec(select(OutboxMessage)).all()
    assert {row.category for row in rows} == {"transactional"} and len(rows) == 3


def test_a_customer_who_blocked_the_account_is_not_told(till, shop, line, uow_factory, services, clock):
    line_user_id = _on_line(line, uow_factory, shop["customer_id"])
    _, fields = open_customer(till, card_code(clock, shop["customer_id"]))
    sell(till, fields, total="3240")
    services.pump.wait_idle()
    with uow_factory() as uow:
        channels.record_unfollow(uow=uow, identity=channels.get_identity(uow=uow, address=line_user_id))
        uow.commit()
    (purchase,) = purchases_of(uow_factory, shop["customer_id"])

    assert undo(till, fields, purchase.id, what="sale", reason="typo").status_code == 302
    services.pump.wait_idle()

    assert len(line.messages_to(line_user_id)) == 1  # the receipt only
    assert balance(uow_factory, shop["customer_id"]) == 500


def test_a_request_that_only_reads_the_session_leaves_the_cookie_alone(till, shop):
    """Another tab's request, begun before the till's store was chosen and answered after, must not put the
    old session back (the simulator's polling did that in the browser journey): only a change sets the cookie."""
    till.get("/console/till")  # shows (and so takes out) the "this till now works for" notice
    for path in ("/console/till", "/console/", "/simulator/"):
        response = till.get(path)
        assert "Set-Cookie" not in response.headers, path
    chosen = till.post(
        "/console/till/store", data={"store_id": shop["stores"]["UMEDA"], "csrf_token": csrf_token(till, TILL)}
    )
    assert "Set-Cookie" in chosen.headers
