"""Coupons over the REST API: define and list them, issue one to a customer, redeem one from the POS.

Refusals that depend on the coupon's state answer 409 with the reason as the error code:
`sold_out`, `limit_reached` (issue); `already_used`, `expired`, `not_yet_valid`, `not_this_store`,
`not_this_customer`, `minimum_not_met` (redeem).
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, jsonify, request

from bot.api.auth import check_token_store
from bot.api.customers import MAX_ID, _limit, decode_cursor, encode_cursor, json_object
from bot.api.errors import ApiError
from bot.api.fields import check_fields, text, whole
from crm_core import coupons, customers, purchases, stores
from crm_core.errors import InvalidFields
from crm_core.models import Coupon, CustomerCoupon, Store

COUPON_FIELDS = {
    "title",
    "benefit",
    "stock",
    "per_customer_limit",
    "valid_days",
    "valid_from",
    "valid_until",
    "minimum_purchase",
    "store_codes",
    "image_url",
    "obtain",
    "points_cost",
    "win_basis_points",
    "active",
    "code_format",
}
BENEFIT_FIELDS = {"kind", "value", "cap", "item"}
CODE_FORMAT_FIELDS = {"prefix", "alphabet", "length"}
ISSUE_FIELDS = {"customer_id", "idempotency_key"}
REDEEM_FIELDS = {"code", "store_code", "customer_id", "total", "purchase_external_id"}
# the API's names for the fields a definition may get wrong
API_NAMES = {
    "benefit_kind": "benefit.kind",
    "benefit_value": "benefit.value",
    "benefit_cap": "benefit.cap",
    "benefit_item": "benefit.item",
    "min_purchase": "minimum_purchase",
    "code_prefix": "code_format.prefix",
    "code_alphabet": "code_format.alphabet",
    "code_length": "code_format.length",
}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/coupons", view_func=list_coupons, methods=["GET"])
    bp.add_url_rule("/coupons", view_func=define_coupon, methods=["POST"])
    bp.add_url_rule("/coupons/<int:coupon_id>/issue", view_func=issue_coupon, methods=["POST"])
    bp.add_url_rule("/coupons/redeem", view_func=redeem_coupon, methods=["POST"])


def _services():
    return current_app.extensions["kizuna"]


def _day(body: dict, name: str) -> date | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ApiError(400, "invalid_field", f"{name} must be a date, like 2026-12-31.")


def coupon_view(coupon: Coupon, store_codes: list[str]) -> dict:
    return {
        "id": coupon.id,
        "title": coupon.title,
        "image_url": coupon.image_url,
        "benefit": {
            "kind": coupon.benefit_kind,
            "value": coupon.benefit_value,
            "cap": coupon.benefit_cap,
            "item": coupon.benefit_item,
        },
        "minimum_purchase": coupon.min_purchase,
        "valid_days": coupon.valid_days,
        "valid_from": coupon.valid_from.isoformat() if coupon.valid_from else None,
        "valid_until": coupon.valid_until.isoformat() if coupon.valid_until else None,
        "stock": coupon.stock,
        "issued": coupon.issued,
        "per_customer_limit": coupon.per_customer_limit,
        "obtain": coupon.obtain,
        "points_cost": coupon.points_cost,
        "win_basis_points": coupon.win_basis_points,
        "store_codes": store_codes,
        "active": coupon.active,
        "code_format": {"prefix": coupon.code_prefix, "alphabet": coupon.code_alphabet, "length": coupon.code_length},
        "created_at": coupon.created_at.isoformat(),
    }


def held_view(held: CustomerCoupon) -> dict:
    return {
        "code": held.code,
        "coupon_id": held.coupon_id,
        "customer_id": held.customer_id,
        "status": held.status,
        "issued_at": held.issued_at.isoformat(),
        "expires_at": held.expires_at.isoformat(),
    }


def list_coupons():
    """Coupon definitions, oldest first, paged with `cursor`."""
    limit = _limit()
    after_id = decode_cursor(request.args["cursor"]) if request.args.get("cursor") else 0
    with _services().uow_factory() as uow:
        page = coupons.list_coupons(uow=uow, after_id=after_id, limit=limit + 1)
        items = [coupon_view(c, coupons.store_codes_of(uow=uow, coupon=c)) for c in page[:limit]]
    return jsonify({"items": items, "next": encode_cursor(page[limit - 1].id) if len(page) > limit else None})


def _spec(body: dict) -> coupons.CouponSpec:
    check_fields(body, COUPON_FIELDS)
    benefit = body.get("benefit")
    if not isinstance(benefit, dict):
        raise ApiError(400, "invalid_field", "benefit must be an object: {kind, value}.")
    check_fields(benefit, BENEFIT_FIELDS, "benefit.")
    codes = body.get("store_codes") or []
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes) or len(codes) > 500:
        raise ApiError(400, "invalid_field", "store_codes must be a list of store codes.")
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise ApiError(400, "invalid_field", "active must be true or false.")
    code_format = body.get("code_format") or {}
    if not isinstance(code_format, dict):
        raise ApiError(400, "invalid_field", "code_format must be an object: {prefix, alphabet, length}.")
    check_fields(code_format, CODE_FORMAT_FIELDS, "code_format.")
    return coupons.CouponSpec(
        title=body.get("title"),
        benefit_kind=benefit.get("kind"),
        benefit_value=benefit.get("value", 0),
        benefit_cap=benefit.get("cap"),
        benefit_item=benefit.get("item"),
        min_purchase=body.get("minimum_purchase", 0),
        valid_days=body.get("valid_days"),
        valid_from=_day(body, "valid_from"),
        valid_until=_day(body, "valid_until"),
        stock=body.get("stock"),
        per_customer_limit=body.get("per_customer_limit", 1),
        obtain=body.get("obtain", "claim"),
        points_cost=body.get("points_cost"),
        win_basis_points=body.get("win_basis_points"),
        image_url=body.get("image_url"),
        store_codes=tuple(codes),
        active=active,
        code_prefix=code_format.get("prefix", ""),
        code_alphabet=code_format.get("alphabet", coupons.codes.MIXED),
        code_length=code_format.get("length", coupons.codes.DEFAULT_LENGTH),
    )


def define_coupon():
    """Define a coupon (201): its benefit, validity, stock and limit per customer."""
    spec = _spec(json_object())
    with _services().uow_factory() as uow:
        try:
            coupon = coupons.define_coupon(uow=uow, spec=spec)
        except InvalidFields as refused:
            reasons = "; ".join(f"{API_NAMES.get(name, name)}: {error}" for name, error in refused.errors.items())
            raise ApiError(422, "invalid_field", reasons) from None
        body = coupon_view(coupon, coupons.store_codes_of(uow=uow, coupon=coupon))
        uow.commit()
    response = jsonify(body)
    response.status_code = 201
    return response


def issue_coupon(coupon_id: int):
    """Give a customer one of this coupon (201); the same idempotency_key again answers 200 with the same coupon."""
    body = json_object()
    check_fields(body, ISSUE_FIELDS)
    customer_id = whole(body, "customer_id")
    key = text(body, "idempotency_key", 150) if body.get("idempotency_key") is not None else None
    services = _services()
    with services.uow_factory() as uow:
        coupons.check_coupon(uow=uow, coupon_id=min(coupon_id, MAX_ID))
        customers.check_customer(uow=uow, customer_id=min(customer_id, MAX_ID))
        issued = coupons.issue_coupon(  # races on the same key are settled inside: the winner's coupon
            uow=uow,
            coupon_id=coupon_id,
            customer_id=customer_id,
            idempotency_key=f"api:{key}" if key else None,
            obtained_by="api",
            zone=services.settings.zone,
        )
        uow.commit()
    response = jsonify(held_view(issued.coupon))
    response.status_code = 201 if issued.created else 200
    return response


def redeem_coupon():
    """Use a coupon once, in this store (with the purchase's total, for its minimum and the discount)."""
    body = json_object()
    check_fields(body, REDEEM_FIELDS)
    code = text(body, "code", 80)
    customer_id = whole(body, "customer_id", required=False)
    total = whole(body, "total", required=False)
    services = _services()
    with services.uow_factory() as uow:
        store = stores.check_store(uow=uow, code=text(body, "store_code", 32))
        check_token_store(store.id)
        purchase_id = None
        if body.get("purchase_external_id") is not None:
            purchase = purchases.get_by_external_id(uow=uow, external_id=text(body, "purchase_external_id", 100))
            if purchase is None or purchase.store_id != store.id:
                raise ApiError(404, "not_found", "No purchase with this external_id in this store.")
            purchase_id = purchase.id
        code, holder = coupons.code_of(uow=uow, code=code, secret=services.settings.secret_key)
        done = coupons.redeem_coupon(
            uow=uow,
            code=code,
            store_id=store.id,
            customer_id=customer_id if customer_id is not None else holder,
            total=total,
            purchase_id=purchase_id,
            zone=services.settings.zone,
        )
        uow.commit()
        body = {
            **held_view(done.held),
            "title": done.coupon.title,
            "redeemed_at": done.held.redeemed_at.isoformat(),
            "store_code": uow.session.get(Store, done.held.store_id).code,
            "discount": done.discount,
        }
    return jsonify(body)
