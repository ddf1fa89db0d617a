"""The till: pick the store, scan the card (or type the member number), record the sale, undo today's mistakes.

After a scan every form carries a TILL ticket (signed, short-lived, bound to the logged-in staff member)
instead of a customer id, so a form cannot be pointed at another customer; each sale form carries its
own idempotency key, so a double tap or a reload records the sale once. A ticket opened by scanning the
card's QR code says so (`cards.TILL_CARD`): only then may the customer pay with points, unless an admin
types a reason.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from sqlmodel import select

from bot import i18n
from bot.console.session import current_user, kizuna, login_required, release_request_uow, request_uow
from bot.console.tier_labels import tier_label
from bot.notifications import queue_points_change, queue_receipt
from bot.web_i18n import current_locale
from bot.web_i18n import gettext as _
from crm_core import cards, customers, points, purchases, staff, stores, till
from crm_core.errors import N_, ExpiredCardToken, InvalidCardToken, InvalidInput, KizunaError
from crm_core.models import StaffSession, StaffUser, Store
from crm_core.uow import UnitOfWork

VISITS_SHOWN = 5
MAX_ITEMS = 50
MAX_ID = 2**31 - 1
_KEY = re.compile(r"[0-9a-f]{32}")


class TicketExpired(KizunaError):
    code = "ticket_expired"
    message = N_("This customer screen has timed out. Scan the card again.")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/till", view_func=till_home)
    bp.add_url_rule("/till/store", view_func=choose_store, methods=["POST"])
    bp.add_url_rule("/till/scan", view_func=scan, methods=["POST"])
    bp.add_url_rule("/till/customer", view_func=till_customer)
    bp.add_url_rule("/till/sale", view_func=record_sale, methods=["POST"])
    bp.add_url_rule("/till/undo", view_func=undo, methods=["POST"])
    bp.add_url_rule("/till/adjust", view_func=adjust_points, methods=["POST"])


# -- reading the request ---------------------------------------------------------------------------


def _message(error: KizunaError) -> str:
    return _(error.message, **error.params)


def _now():
    return kizuna().uow_factory.clock.now()


def _staff_id() -> int:
    return current_user().id


def _staff_and_store(uow: UnitOfWork, session_digest: str) -> None:
    """Read the session's row, the staff member and this till's store in one query (login_required's preload).

    Held in the request's session: current_user() takes the pair from `g`, _store() finds the store there.
    """
    store_id = session.get("till_store_id")
    if not isinstance(store_id, int):
        return
    query = (
        select(StaffSession, StaffUser, Store)
        .join(StaffUser, StaffUser.id == StaffSession.staff_user_id)
        .outerjoin(Store, Store.id == store_id)
        .where(StaffSession.id == session_digest)
    )
    g.till_preloaded = row = uow.session.exec(query).first()  # held: the session's identity map is weak
    if row is not None:
        g.preloaded_session = (row[0], row[1])


def _chosen_store() -> Store | None:
    """The store this device works for (chosen once, kept in the session), if it still exists.

    Until one is chosen, the staff member's home store (when they have one and it is open).
    """
    store_id = session.get("till_store_id")
    if not isinstance(store_id, int):
        home_id = current_user().home_store_id if current_user() is not None else None
        home = request_uow().session.get(Store, home_id) if home_id else None
        if home is not None and home.active:
            session["till_store_id"] = home.id
        return home if home is not None and home.active else None
    return request_uow().session.get(Store, store_id)


def _store() -> Store | None:
    """The store this device works for (chosen once, kept in the session), while it exists and is open."""
    store = _chosen_store()
    return store if store is not None and store.active else None


def _choose_first() -> str:
    """Why the till needs a store: none chosen yet, or the chosen one was closed."""
    if _chosen_store() is not None:
        return _("This store was closed. Please choose the store this till is in.")
    return _("Choose the store first.")


def _issue_ticket(customer_id: int, card_shown: bool) -> str:
    secret = kizuna().settings.secret_key
    purpose = cards.TILL_CARD if card_shown else cards.TILL
    return cards.issue(secret=secret, purpose=purpose, customer_id=customer_id, now=_now(), bound_to=_staff_id())


def _read_ticket(code: str | None) -> tuple[int, bool]:
    """The customer a ticket names and whether their card was scanned; InvalidCardToken for a forged or
    foreign one, TicketExpired when old."""
    code = (code or "").strip()
    card_shown = code.upper().startswith("KZV")
    purpose = cards.TILL_CARD if card_shown else cards.TILL
    try:
        customer_id = cards.read(
            secret=kizuna().settings.secret_key, purpose=purpose, code=code, now=_now(), bound_to=_staff_id()
        )
    except ExpiredCardToken:
        raise TicketExpired() from None
    return customer_id, card_shown


def _customer_from_scan(text: str) -> tuple[int, bool]:
    """The customer id a scanned point-card code or a typed member number names, and whether it was the card."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if text.upper().startswith("KZC"):
        return cards.read(secret=kizuna().settings.secret_key, purpose=cards.CARD, code=text, now=_now()), True
    digits = customers.digits_of(text)
    if len(text) <= 20 and customers.is_member_number(digits):
        customer = customers.get_by_member_number(uow=request_uow(), member_number=digits)
        if customer is None:
            raise InvalidInput(N_("No member has the number %(number)s."), number=digits)
        return customer.id, False
    if text.upper().startswith("KZ"):
        raise InvalidCardToken()
    raise InvalidInput(N_("Scan the point card, or type the 10-digit member number."))


def parse_yen(text: str | None, *, what: str = N_("Amounts")) -> int | None:
    """Whole yen as people type them (3240, 3,240, ¥3,240, full-width digits); None when left empty."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    text = text.removeprefix("¥").removesuffix("円").replace(",", "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InvalidInput(N_("%(what)s must be whole numbers, like 3,240."), what=_(what))
    return int(text)


def _items_from_form(form) -> list[purchases.Item]:
    rows = zip(
        form.getlist("item_sku"),
        form.getlist("item_name"),
        form.getlist("item_qty"),
        form.getlist("item_price"),
        strict=False,
    )
    items = []
    for sku, name, quantity_text, price in list(rows)[:MAX_ITEMS]:
        if not any(value.strip() for value in (sku, name, quantity_text, price)):
            continue
        quantity = parse_yen(quantity_text, what=N_("Quantities"))
        items.append(
            purchases.Item(
                sku=sku.strip()[:64] or name.strip()[:64],
                name=name.strip()[:200] or sku.strip()[:200],
                category="",
                quantity=1 if quantity is None else quantity,
                unit_price=parse_yen(price, what=N_("Prices")) or 0,
            )
        )
    return items


def _sale_from_form(form) -> tuple[int, list[purchases.Item], int]:
    items = _items_from_form(form)
    total = parse_yen(form.get("total"), what=N_("The total"))
    if total is None and items:
        total = sum(item.quantity * item.unit_price for item in items)
    if not total:
        raise InvalidInput(N_("Enter the total in yen (more than ¥0)."))
    points_to_spend = parse_yen(form.get("points"), what=N_("Points")) or 0
    if points_to_spend > total:
        raise InvalidInput(N_("Points used cannot be more than the total."))
    return total, items, points_to_spend


def _coupon_from_form(form) -> str | None:
    """The coupon used with the sale: a code typed or scanned (it wins), or one picked from the customer's list."""
    typed = unicodedata.normalize("NFKC", form.get("coupon_code", "")).strip()
    if len(typed) > 400:
        raise InvalidInput(N_("No coupon with this code."))
    return typed or form.get("coupon", "").strip()[:40] or None


def _id_from_form(name: str) -> int:
    value = request.form.get(name, "")
    if not value.isdigit() or len(value) > 10 or int(value) > MAX_ID:
        raise InvalidInput(N_("The input is not valid."))
    return int(value)


# -- pages ----------------------------------------------------------------------------------------


def _stores() -> list[Store]:
    return stores.list_stores(uow=request_uow(), include_closed=False)


def _home(*, error: str | None = None, status: int = 200, code: str = ""):
    store = _store()
    choosing = store is None or request.args.get("change") == "1"
    if store is None and error is None and _chosen_store() is not None:
        error = _choose_first()
    choices = _stores() if choosing else []
    page = render_template("console/till.html", store=store, stores=choices, choosing=choosing, error=error, code=code)
    return page, status


@login_required(keep_uow=True, preload=_staff_and_store)
def till_home():
    """The till's start: choose the store once, then scan a card or type a member number."""
    return _home()


@login_required(keep_uow=True, preload=_staff_and_store)
def choose_store():
    """Remember which store this device works for; an unknown store changes nothing."""
    store_id = request.form.get("store_id", "")
    uow = request_uow()
    store = uow.session.get(Store, int(store_id)) if store_id.isdigit() and int(store_id) <= MAX_ID else None
    if store is None or not store.active:
        return _home(error=_("There is no such store. Please choose one from the list."), status=400)
    session["till_store_id"] = store.id
    flash(_("This till now works for %(store)s.", store=store.name), "info")
    return redirect(url_for("console.till_home"))


@login_required(keep_uow=True, preload=_staff_and_store)
def scan():
    """Look up the customer from a scanned card code or member number and open their screen."""
    if _store() is None:
        return _home(error=_choose_first(), status=400)
    code = request.form.get("code", "")
    try:
        customer_id, card_shown = _customer_from_scan(code)
        customers.check_customer(uow=request_uow(), customer_id=customer_id)
    except KizunaError as error:
        return _home(error=_message(error), status=400, code=code[:80])
    return redirect(url_for("console.till_customer", t=_issue_ticket(customer_id, card_shown)))


@login_required(keep_uow=True, preload=_staff_and_store)
def till_customer():
    """The customer at a glance, the sale form and today's sales here."""
    store = _store()
    if store is None:
        return _home(error=_choose_first(), status=400)
    try:
        customer_id, card_shown = _read_ticket(request.args.get("t"))
    except KizunaError as error:
        return _home(error=_message(error), status=400)
    return _panel(customer_id, card_shown, store)


def _panel(customer_id: int, card_shown: bool, store: Store, *, error: str | None = None, status: int = 200, form=None):
    """The customer screen, read in the request's unit of work (one transaction for the whole page)."""
    try:
        found = till.panel(
            uow=request_uow(),
            customer_id=customer_id,
            store_id=store.id,
            zone=kizuna().settings.zone,
            visits=VISITS_SHOWN,
        )
    except KizunaError as failure:
        return _home(error=_message(failure), status=400)
    customer = found.customer
    page = render_template(
        "console/till_customer.html",
        store=store,
        customer=customer,
        tier=tier_label(customer.tier),
        program=found.program,
        balance=found.balance,
        visits=found.visits,
        coupons=found.coupons,
        stamps_now=found.stamps,
        sales=found.sales,
        ticket=_issue_ticket(customer_id, card_shown),
        card_shown=card_shown,
        may_override=staff.has_role(current_user(), "admin"),
        sale_key=uuid.uuid4().hex,
        adjust_key=uuid.uuid4().hex,
        can_adjust=staff.has_role(current_user(), "marketer"),
        error=error,
        form=form or {},
    )
    return page, status


def _customer_or_home():
    """((customer id, card shown), store) from the posted ticket and the session, or (None, error response).

    The request's read transaction ends here: the caller writes in its own.
    """
    store = _store()
    if store is None:
        return None, _home(error=_choose_first(), status=400)
    try:
        found = (_read_ticket(request.form.get("ticket")), store), None
    except KizunaError as error:
        return None, _home(error=_message(error), status=400)
    release_request_uow()
    return found


def _back_to(who: tuple[int, bool]):
    return redirect(url_for("console.till_customer", t=_issue_ticket(*who)))


@login_required(keep_uow=True, preload=_staff_and_store)
def record_sale():
    """Record the purchase (and the points it is paid with) once per form, and queue the LINE receipt."""
    found, failure = _customer_or_home()
    if failure:
        return failure
    who, store = found
    customer_id, card_shown = who
    services = kizuna()
    key = request.form.get("key", "")
    try:
        if not _KEY.fullmatch(key):
            raise InvalidInput(N_("This form is incomplete. Please reload the page and try again."))
        total, items, points_to_spend = _sale_from_form(request.form)
        coupon_code = _coupon_from_form(request.form)
        without_card_reason = till.check_points_payment(
            points_to_spend=points_to_spend,
            card_shown=card_shown,
            may_override=staff.has_role(current_user(), "admin"),
            reason=request.form.get("points_reason"),
        )
        result = till.sell(
            uow_factory=services.uow_factory,
            customer_id=customer_id,
            store_id=store.id,
            staff_user_id=_staff_id(),
            key=key,
            total=total,
            items=items,
            points_to_spend=points_to_spend,
            zone=services.settings.zone,
            notify=lambda uow, result, spent: queue_receipt(
                services=services, uow=uow, result=result, points_spent=spent
            ),
            without_card_reason=without_card_reason,
            coupon_code=coupon_code,
            secret=services.settings.secret_key,
        )
    except KizunaError as error:
        return _panel(customer_id, card_shown, store, error=_message(error), status=400, form=request.form)
    locale = current_locale()
    recorded = _(
        "Recorded %(total)s: %(earned)s points earned, %(spent)s used. Balance: %(balance)s points.",
        total=i18n.format_yen(result.total, locale),
        earned=i18n.format_number(result.points_earned, locale),
        spent=i18n.format_number(result.points_spent, locale),
        balance=i18n.format_number(result.points_balance, locale),
    )
    if result.coupon_title is not None:
        recorded += " " + _(
            "Coupon %(title)s: %(discount)s off %(price)s.",
            title=result.coupon_title,
            discount=i18n.format_yen(result.discount, locale),
            price=i18n.format_yen(result.price, locale),
        )
    flash(recorded, "info")
    return _back_to(who)


@login_required(keep_uow=True, preload=_staff_and_store)
def undo():
    """Undo one of today's sales here (a refund and a reversal, never a deletion), or only its points payment.

    The customer is told on LINE what changed and the new balance (in the same transaction, through the outbox).
    """
    found, failure = _customer_or_home()
    if failure:
        return failure
    who, store = found
    customer_id, card_shown = who
    services = kizuna()
    try:
        with services.uow_factory() as uow:
            common = {
                "uow": uow,
                "customer_id": customer_id,
                "store_id": store.id,
                "staff_user_id": _staff_id(),
                "reason": request.form.get("reason", ""),
                "zone": services.settings.zone,
            }
            if request.form.get("what") == "points":
                entry = till.give_back_points(entry_id=_id_from_form("entry_id"), **common)
                message = _("%(points)d points given back.", points=entry.amount)
                queue_points_change(
                    services=services,
                    uow=uow,
                    purchase=purchases.get_purchase(uow=uow, purchase_id=entry.purchase_id),
                    change="points_returned",
                    dedupe_key=f"points-returned:{entry.id}",
                    points_returned=entry.amount,
                )
            else:
                purchase_id = _id_from_form("purchase_id")
                done = till.undo_sale(purchase_id=purchase_id, **common)
                queue_points_change(
                    services=services,
                    uow=uow,
                    purchase=purchases.get_purchase(uow=uow, purchase_id=purchase_id),
                    change="cancelled",
                    dedupe_key=f"till-undo:{purchase_id}",
                    points_taken=done.points_reversed,
                    points_returned=done.points_returned,
                )
                message = _(
                    "The sale was undone: %(taken)d points taken back, %(returned)d points given back.",
                    taken=done.points_reversed,
                    returned=done.points_returned,
                )
                if done.shortfall:
                    message += " " + _(
                        "%(points)d earned points were already used and could not be taken back.",
                        points=done.shortfall,
                    )
            uow.commit()
    except KizunaError as error:
        return _panel(customer_id, card_shown, store, error=_message(error), status=400)
    flash(message, "info")
    return _back_to(who)


@login_required(role="marketer", keep_uow=True, preload=_staff_and_store)
def adjust_points():
    """A manual correction of the points (plus or minus) with a required reason; marketers and admins only."""
    found, failure = _customer_or_home()
    if failure:
        return failure
    who, store = found
    customer_id, card_shown = who
    key = request.form.get("key", "")
    try:
        if not _KEY.fullmatch(key):
            raise InvalidInput(N_("This form is incomplete. Please reload the page and try again."))
        text = unicodedata.normalize("NFKC", request.form.get("amount", "")).strip().replace(",", "")
        sign = -1 if text.startswith(("-", "−")) else 1
        amount = parse_yen(text.lstrip("+-−"), what=N_("Points"))
        with kizuna().uow_factory() as uow:
            points.adjust(
                uow=uow,
                customer_id=customer_id,
                amount=sign * (amount or 0),
                reason=request.form.get("reason", "")[:400],
                idempotency_key=f"adjust:{key}",
                staff_user_id=_staff_id(),
            )
            uow.commit()
    except KizunaError as error:
        return _panel(customer_id, card_shown, store, error=_message(error), status=400)
    flash(_("The points were adjusted."), "info")
    return _back_to(who)
