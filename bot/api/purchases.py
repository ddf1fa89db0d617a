"""Purchases, refunds and points from the POS or the web shop.

`POST /purchases` is idempotent on `external_id`: the same body again answers the same and grants
nothing more, even when both arrive at the same moment. Paying with points (`points_used`) needs the
live QR code of the customer's point card as `card_code`: a member number or a customer id alone
earns points but cannot spend them.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, jsonify, request

from bot.api.auth import check_token_store, token_store_id
from bot.api.customers import MAX_ID, _limit, decode_cursor, encode_cursor, json_object
from bot.api.errors import ApiError
from bot.api.fields import check_fields, text, whole
from bot.notifications import queue_points_change, queue_receipt
from crm_core import cards, customers, loyalty, points, purchases, stores
from crm_core.errors import CardNeeded, NotFound

PURCHASE_FIELDS = {
    "external_id",
    "customer_id",
    "card_code",
    "store_code",
    "occurred_at",
    "items",
    "total",
    "points_used",
}
ITEM_FIELDS = {"sku", "name", "category", "quantity", "unit_price"}
REFUND_FIELDS = {"external_id", "purchase_id", "purchase_external_id", "amount", "occurred_at"}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/purchases", view_func=create_purchase, methods=["POST"])
    bp.add_url_rule("/purchases/<int:purchase_id>", view_func=get_purchase, methods=["GET"])
    bp.add_url_rule("/refunds", view_func=create_refund, methods=["POST"])
    bp.add_url_rule("/customers/<int:customer_id>/points", view_func=get_points, methods=["GET"])
    bp.add_url_rule("/customers/<int:customer_id>/purchases", view_func=list_purchases, methods=["GET"])


def _services():
    return current_app.extensions["kizuna"]


def _moment(body: dict, name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            400, "invalid_field", f"{name} must be an ISO 8601 time with a zone, like 2026-11-22T14:05:00+09:00."
        )
    return moment


def _items(body: dict) -> list[purchases.Item]:
    raw = body.get("items") or []
    if not isinstance(raw, list) or len(raw) > 500:
        raise ApiError(400, "invalid_field", "items must be a list (at most 500).")
    items = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ApiError(400, "invalid_field", f"items[{index}] must be an object.")
        check_fields(item, ITEM_FIELDS)
        items.append(
            purchases.Item(
                sku=text(item, "sku", 64),
                name=text(item, "name", 200),
                category=text(item, "category", 100, required=False) or "",
                quantity=whole(item, "quantity"),
                unit_price=whole(item, "unit_price"),
            )
        )
    return items


def _customer_id(uow, body: dict) -> tuple[int, bool]:
    """From `customer_id`, or `card_code`: the member number or the QR code on the LINE point card.

    Also says whether the customer showed the card itself (its live QR code), which paying with points needs.
    """
    if body.get("customer_id") is not None:
        customer_id = whole(body, "customer_id")
        customers.check_customer(uow=uow, customer_id=min(customer_id, MAX_ID))
        return customer_id, False
    code = text(body, "card_code", 80, required=False)
    if code is None:
        raise ApiError(400, "invalid_field", "Give customer_id or card_code.")
    number = customers.digits_of(code)
    if customers.is_member_number(number) and len(code.replace("-", "").replace(" ", "")) == len(number):
        customer = customers.get_by_member_number(uow=uow, member_number=number)
        if customer is None:
            raise NotFound(message="No customer with this member number.")
        return customers.check_customer(uow=uow, customer_id=customer.id).id, False
    services = _services()
    return cards.read(secret=services.settings.secret_key, purpose=cards.CARD, code=code, now=uow.now()), True


def create_purchase():
    """Record a purchase and grant its points (201); the same external_id again answers 200 with the same body."""
    body = json_object()
    check_fields(body, PURCHASE_FIELDS)
    external_id = text(body, "external_id")
    total = whole(body, "total")
    items = _items(body)
    occurred_at = _moment(body, "occurred_at")
    points_used = whole(body, "points_used", required=False) or 0
    services = _services()
    with services.uow_factory() as uow:
        customer_id, showed_card = _customer_id(uow, body)
        store = stores.check_store(uow=uow, code=text(body, "store_code", 32))
        store_id = store.id
        check_token_store(store_id)
        known = purchases.get_by_external_id(uow=uow, external_id=external_id)
    if points_used > 0 and not showed_card and known is None:  # the same body again still answers the same
        raise CardNeeded()
    result = purchases.record_purchase_once(
        uow_factory=services.uow_factory,
        before_commit=lambda uow, result: queue_receipt(services=services, uow=uow, result=result),
        customer_id=customer_id,
        store_id=store_id,
        total=total,
        items=items,
        occurred_at=occurred_at,
        external_id=external_id,
        source="api",
        zone=services.settings.zone,
        points_used=points_used,
    )
    response = jsonify(result.as_dict())
    response.status_code = 201 if result.created else 200
    return response


def get_purchase(purchase_id: int):
    """One purchase with its items, refunds and points."""
    with _services().uow_factory() as uow:
        purchase = purchases.get_purchase(uow=uow, purchase_id=min(purchase_id, MAX_ID))
        if purchase is None or token_store_id() not in (None, purchase.store_id):
            raise ApiError(404, "not_found", "No purchase with this id.")
        return jsonify(purchases.purchase_view(uow=uow, purchase=purchase))


def create_refund():
    """Refund part or all of a purchase: take back the points it earned and give back the points paid with.

    Idempotent on external_id; the customer is told on LINE (unless they blocked the account).
    """
    body = json_object()
    check_fields(body, REFUND_FIELDS)
    external_id = text(body, "external_id")
    amount = whole(body, "amount")
    occurred_at = _moment(body, "occurred_at")
    services = _services()
    with services.uow_factory() as uow:
        if body.get("purchase_id") is not None:
            purchase = purchases.get_purchase(uow=uow, purchase_id=min(whole(body, "purchase_id"), MAX_ID))
        else:
            purchase = purchases.get_by_external_id(uow=uow, external_id=text(body, "purchase_external_id"))
        if purchase is None:
            raise ApiError(404, "not_found", "No such purchase.")
        check_token_store(purchase.store_id)
        result = purchases.refund_purchase(
            uow=uow, purchase=purchase, amount=amount, external_id=external_id, occurred_at=occurred_at
        )
        if result.created:
            queue_points_change(
                services=services,
                uow=uow,
                purchase=purchase,
                change="refunded",
                dedupe_key=f"refund:{result.refund.id}",
                amount=amount,
                points_taken=result.points_reversed,
                points_returned=result.points_returned,
            )
        uow.commit()
    response = jsonify({**result.as_dict(), "points_not_reversed": result.shortfall})
    response.status_code = 201 if result.created else 200
    return response


def get_points(customer_id: int):
    """Balance (available and pending), what expires soon, tier and what the next tier needs."""
    with _services().uow_factory() as uow:
        customer = customers.check_customer(uow=uow, customer_id=min(customer_id, MAX_ID))
        detail = points.details(uow=uow, customer_id=customer.id)
        spend = purchases.rolling_spend(uow=uow, customer_id=customer.id)
        upcoming = loyalty.get_program(uow=uow).next_tier(spend)
        return jsonify(
            {
                "customer_id": customer.id,
                "points_balance": detail.total,
                "available": detail.available,
                "pending": detail.pending,
                "expiring": [{"expires_at": when.isoformat(), "points": amount} for when, amount in detail.expiring],
                "tier": customer.tier,
                "rolling_12_month_spend": spend,
                "next_tier": {"name": upcoming[0].name, "missing": upcoming[1]} if upcoming else None,
            }
        )


def list_purchases(customer_id: int):
    """The customer's purchases, newest first, paged with `cursor`."""
    limit = _limit()
    before_id = decode_cursor(request.args["cursor"]) if request.args.get("cursor") else None
    with _services().uow_factory() as uow:
        customers.check_customer(uow=uow, customer_id=min(customer_id, MAX_ID))
        page = purchases.list_purchases(
            uow=uow, customer_id=customer_id, before_id=before_id, limit=limit + 1, store_id=token_store_id()
        )
        items = [purchases.purchase_view(uow=uow, purchase=p) for p in page[:limit]]
    return jsonify({"items": items, "next": encode_cursor(page[limit - 1].id) if len(page) > limit else None})
