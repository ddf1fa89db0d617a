"""The OpenAPI 3.1 document of the REST API, written by hand; served without a token."""

from __future__ import annotations

from flask import Blueprint, jsonify

_ERROR = {"$ref": "#/components/responses/Error"}
_CUSTOMER_ID = {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


def _list_of(ref: str) -> dict:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": ref}},
            "next": _nullable("string", description="Pass as `cursor` for the next page; null on the last page."),
        },
    }


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Kizuna REST API",
        "version": "1.0.0",
        "description": "Customers, stores, purchases, coupons and reservations of a Kizuna shop, for the POS, "
        "the web shop and BI. "
        'Errors are `{"error": {"code", "message"}}` with a 4xx status; lists are `{"items", "next"}`.',
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {
        "/customers": {
            "post": {
                "operationId": "upsertCustomer",
                "summary": "Create or update a customer by external_id",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerInput"}}},
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Customer"}, "Updated"),
                    "201": _json({"$ref": "#/components/schemas/Customer"}, "Created"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "410": _ERROR,
                    "415": _ERROR,
                    "422": _ERROR,
                },
            },
            "get": {
                "operationId": "listCustomers",
                "summary": "Look up by LINE user id, or search customers",
                "parameters": [
                    {
                        "name": "line_user_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "The customer linked to this LINE user (0 or 1 item).",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": (
                            "Name or kana (hiragana, katakana or half-width, with or without spaces), phone "
                            "(4 or more digits, any format), e-mail, member number, external id or LINE user id."
                        ),
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                ],
                "responses": {
                    "200": _json(_list_of("#/components/schemas/Customer"), "Customers, oldest first"),
                    "400": _ERROR,
                    "401": _ERROR,
                },
            },
        },
        "/customers/{customer_id}": {
            "get": {
                "operationId": "getCustomer",
                "summary": "One customer",
                "parameters": [_CUSTOMER_ID],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Customer"}, "The customer"),
                    "401": _ERROR,
                    "404": _ERROR,
                    "410": _ERROR,
                },
            }
        },
        "/stores": {
            "get": {
                "operationId": "listStores",
                "summary": "The stores, open and closed, by code",
                "responses": {"200": _json(_list_of("#/components/schemas/Store"), "Every store"), "401": _ERROR},
            },
            "post": {
                "operationId": "upsertStore",
                "summary": "Create or update a store by code",
                "description": "The code is upper-cased (`shibuya` is SHIBUYA). Fields left out keep their value. "
                "A closed store (`active` false) keeps its history and still accepts purchases, "
                "but the till no longer offers it.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StoreInput"}}},
                },
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Store"}, "Updated"),
                    "201": _json({"$ref": "#/components/schemas/Store"}, "Created"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "415": _ERROR,
                    "422": _ERROR,
                },
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `kizuna tokens create` or the console's API tokens page. Each "
                "operation names the scope it needs (customers:read, customers:write, points:read, "
                "purchases:read, purchases:write, stores:read, stores:write, coupons:read, coupons:write, "
                "coupons:redeem, reservations:read, reservations:write); a token without it is refused with 403 "
                "`forbidden`. A token restricted to one "
                "store may only have purchases:read, purchases:write, stores:read and coupons:redeem, and records "
                "and reads only that store's purchases and refunds and redeems coupons only there. "
                "Tokens made before scopes existed have every scope.",
            }
        },
        "responses": {"Error": _json({"$ref": "#/components/schemas/Error"}, "Refused")},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Customer": {
                "type": "object",
                "required": [
                    "id",
                    "member_number",
                    "external_id",
                    "name",
                    "line_user_id",
                    "points_balance",
                    "tier",
                    "consented",
                    "blocked",
                    "marketing_opt_out",
                    "locale",
                    "created_at",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "member_number": {"type": "string", "description": "10 digits, the last a Luhn check digit"},
                    "external_id": _nullable("string"),
                    "name": {"type": "string"},
                    "line_user_id": _nullable("string"),
                    "points_balance": {"type": "integer"},
                    "tier": {"type": "string"},
                    "consented": {"type": "boolean", "description": "Agreed to the privacy notice"},
                    "blocked": {"type": "boolean", "description": "Has blocked the LINE account"},
                    "marketing_opt_out": {"type": "boolean", "description": "Stopped marketing messages"},
                    "locale": {"type": "string", "enum": ["ja", "en"]},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "CustomerInput": {
                "type": "object",
                "additionalProperties": False,
                "required": ["external_id"],
                "properties": {
                    "external_id": {"type": "string", "minLength": 1, "maxLength": 100},
                    "name": {"type": "string", "maxLength": 200, "description": "Required when creating"},
                    "name_kana": _nullable(
                        "string", maxLength=200, description="In kana; stored in full-width katakana"
                    ),
                    "birth_date": _nullable("string", format="date"),
                    "phone": _nullable(
                        "string",
                        maxLength=40,
                        description="10 to 15 digits; dashes and spaces are fine; stored as digits",
                    ),
                    "email": _nullable("string", maxLength=254, description="Stored trimmed and lower-cased"),
                    "locale": {"type": "string", "enum": ["ja", "en"]},
                },
            },
            "Store": {
                "type": "object",
                "required": ["code", "name", "address", "phone", "active", "business_hours"],
                "properties": {
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "address": _nullable("string"),
                    "phone": _nullable("string", description="Digits, with a leading + kept"),
                    "active": {"type": "boolean", "description": "false once the store is closed"},
                    "business_hours": {
                        "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/BusinessHours"}],
                        "description": "null: the shop's business hours",
                    },
                },
            },
            "StoreInput": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "name"],
                "properties": {
                    "code": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "address": _nullable("string", maxLength=300),
                    "phone": _nullable(
                        "string", maxLength=40, description="10 to 15 digits; dashes and spaces are fine"
                    ),
                    "active": {"type": "boolean"},
                    "business_hours": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/BusinessHours"}]},
                },
            },
            "BusinessHours": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "weekly": {
                        "type": "object",
                        "additionalProperties": False,
                        "description": "Opening hours per weekday; an empty list: closed",
                        "properties": {
                            day: {"type": "array", "items": {"type": "string", "examples": ["10:00-19:00"]}}
                            for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                        },
                    },
                    "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
                    "special": {
                        "type": "object",
                        "description": "Dates with special opening hours",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
}


_PURCHASE_ID = {"name": "purchase_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_PAGING = [
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
]


def _body(ref: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}


DOCUMENT["paths"].update(
    {
        "/purchases": {
            "post": {
                "operationId": "createPurchase",
                "summary": "Record a purchase and grant its points (idempotent on external_id)",
                "description": "The same external_id again answers 200 with the same body and grants nothing more. "
                "`points_used` (1 point = ¥1) are spent before the purchase's own points are granted; paying "
                "with points needs the live QR code of the point card as `card_code` (403 `card_required` "
                "otherwise) and enough usable points (409 `insufficient_points`, nothing recorded). A purchase "
                "dated in the future or before the points' validity window is a 422 with the reason. "
                "A receipt goes to the customer on LINE unless they blocked the account.",
                "requestBody": _body("#/components/schemas/PurchaseInput"),
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/PurchaseResult"}, "Already recorded"),
                    "201": _json({"$ref": "#/components/schemas/PurchaseResult"}, "Recorded"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "403": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "410": _ERROR,
                    "415": _ERROR,
                    "422": _ERROR,
                },
            }
        },
        "/purchases/{purchase_id}": {
            "get": {
                "operationId": "getPurchase",
                "summary": "One purchase with its items and refunds",
                "parameters": [_PURCHASE_ID],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Purchase"}, "The purchase"),
                    "401": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/refunds": {
            "post": {
                "operationId": "createRefund",
                "summary": "Refund part or all of a purchase; its points are reversed (idempotent on external_id)",
                "description": "Takes back the points earned on the refunded part (by the purchase's own earning "
                "rule) and gives back the points used on it. Refunding purchases in full, in any order, leaves "
                "the balance exactly as if they had never happened: never more, never below zero. "
                "The customer is told on LINE unless they blocked the account.",
                "requestBody": _body("#/components/schemas/RefundInput"),
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/RefundResult"}, "Already recorded"),
                    "201": _json({"$ref": "#/components/schemas/RefundResult"}, "Recorded"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "422": _ERROR,
                },
            }
        },
        "/customers/{customer_id}/points": {
            "get": {
                "operationId": "getPoints",
                "summary": "Points balance, what expires soon, tier",
                "parameters": [_CUSTOMER_ID],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Points"}, "Points"),
                    "401": _ERROR,
                    "404": _ERROR,
                    "410": _ERROR,
                },
            }
        },
        "/customers/{customer_id}/purchases": {
            "get": {
                "operationId": "listPurchases",
                "summary": "The customer's purchases, newest first",
                "parameters": [_CUSTOMER_ID, *_PAGING],
                "responses": {
                    "200": _json(_list_of("#/components/schemas/Purchase"), "Purchases"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                    "410": _ERROR,
                },
            }
        },
    }
)
_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sku", "name", "quantity", "unit_price"],
    "properties": {
        "sku": {"type": "string", "maxLength": 64},
        "name": {"type": "string", "maxLength": 200},
        "category": {"type": "string", "maxLength": 100},
        "quantity": {"type": "integer", "minimum": 1},
        "unit_price": {"type": "integer", "minimum": 0, "description": "Yen"},
    },
}
DOCUMENT["components"]["schemas"].update(
    {
        "PurchaseItem": _ITEM,
        "PurchaseInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["external_id", "store_code", "total"],
            "properties": {
                "external_id": {"type": "string", "maxLength": 100},
                "customer_id": {"type": "integer"},
                "card_code": {"type": "string", "description": "Member number, or the code of the LINE point card"},
                "store_code": {"type": "string"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "total": {"type": "integer", "minimum": 0, "description": "Yen; equals the items' sum when given"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/PurchaseItem"}},
                "points_used": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 0,
                    "description": "Points the customer pays with (1 point = ¥1, at most the total); needs the "
                    "point card's QR code as card_code",
                },
            },
        },
        "PurchaseResult": {
            "type": "object",
            "required": ["id", "points_earned", "points_used", "points_balance"],
            "properties": {
                "id": {"type": "integer"},
                "points_earned": {"type": "integer"},
                "points_used": {"type": "integer"},
                "points_balance": {"type": "integer"},
            },
        },
        "Purchase": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "external_id": _nullable("string"),
                "customer_id": {"type": "integer"},
                "store_code": {"type": "string"},
                "occurred_at": {"type": "string", "format": "date-time"},
                "total": {"type": "integer"},
                "refunded_total": {"type": "integer"},
                "points_earned": {"type": "integer"},
                "points_used": {"type": "integer"},
                "discount": {
                    "type": "integer",
                    "description": "Yen a coupon took off at the till; the price was total + discount",
                },
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/PurchaseItem"}},
                "refunds": {"type": "array", "items": {"type": "object"}},
            },
        },
        "RefundInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["external_id", "amount"],
            "properties": {
                "external_id": {"type": "string", "maxLength": 100},
                "purchase_id": {"type": "integer"},
                "purchase_external_id": {"type": "string"},
                "amount": {"type": "integer", "minimum": 1, "description": "Yen refunded"},
                "occurred_at": {"type": "string", "format": "date-time"},
            },
        },
        "RefundResult": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "purchase_id": {"type": "integer"},
                "amount": {"type": "integer"},
                "points_reversed": {"type": "integer", "description": "Earned points taken back"},
                "points_returned": {"type": "integer", "description": "Points paid with, given back"},
                "points_not_reversed": {
                    "type": "integer",
                    "description": "Points the customer had already used; never taken below zero",
                },
                "points_balance": {"type": "integer"},
            },
        },
        "Points": {
            "type": "object",
            "properties": {
                "customer_id": {"type": "integer"},
                "points_balance": {"type": "integer"},
                "available": {"type": "integer"},
                "pending": {"type": "integer"},
                "expiring": {"type": "array", "items": {"type": "object"}},
                "tier": {"type": "string"},
                "rolling_12_month_spend": {"type": "integer"},
                "next_tier": {"type": ["object", "null"]},
            },
        },
    }
)


_COUPON_REFUSALS = (
    "409 with the reason as the error code: `sold_out` (the stock is gone), `limit_reached` (the customer "
    "has as many as one customer may get), `not_available` (switched off), `expired` (its last day passed)."
)
DOCUMENT["paths"].update(
    {
        "/coupons": {
            "get": {
                "operationId": "listCoupons",
                "summary": "Coupon definitions, oldest first",
                "parameters": _PAGING,
                "responses": {
                    "200": _json(_list_of("#/components/schemas/Coupon"), "Coupons"),
                    "400": _ERROR,
                    "401": _ERROR,
                },
            },
            "post": {
                "operationId": "defineCoupon",
                "summary": "Define a coupon",
                "description": "A benefit (`yen_off` ¥ value, `percent_off` value % rounded down to the yen with an "
                "optional `cap` in yen, `free_item` or `gift` naming the `item`), a validity (`valid_days` from the "
                "day of issue, that day included, and/or `valid_from`..`valid_until`, business days, inclusive), a "
                "`stock` (null: unlimited) and a `per_customer_limit` (default 1, null: none). A wrong field is "
                "a 422 naming it.",
                "requestBody": _body("#/components/schemas/CouponInput"),
                "responses": {
                    "201": _json({"$ref": "#/components/schemas/Coupon"}, "Defined"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "415": _ERROR,
                    "422": _ERROR,
                },
            },
        },
        "/coupons/{coupon_id}/issue": {
            "post": {
                "operationId": "issueCoupon",
                "summary": "Give a customer one of this coupon",
                "description": "Stock and the limit per customer hold under any concurrency. With an "
                "`idempotency_key`, the same key again answers 200 with the same coupon and issues nothing more. "
                + _COUPON_REFUSALS,
                "parameters": [
                    {"name": "coupon_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
                ],
                "requestBody": _body("#/components/schemas/IssueInput"),
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/CustomerCoupon"}, "Already issued with this key"),
                    "201": _json({"$ref": "#/components/schemas/CustomerCoupon"}, "Issued"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "410": _ERROR,
                    "415": _ERROR,
                },
            }
        },
        "/coupons/redeem": {
            "post": {
                "operationId": "redeemCoupon",
                "summary": "Use a coupon once, at a store",
                "description": "Used once, whatever runs at once: a second till gets 409 `already_used`. Other "
                "refusals are 409 too, with the reason as the code: `expired`, `not_yet_valid`, `not_this_store`, "
                "`not_this_customer` (when `customer_id` is given or the purchase is another customer's), "
                "`minimum_not_met`. The discount is in whole yen on `total` (or the purchase's total): null for a "
                "percentage without a total; 0 for a free item or a gift. An unknown code is a 404.",
                "requestBody": _body("#/components/schemas/RedeemInput"),
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Redemption"}, "Redeemed"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "415": _ERROR,
                    "422": _ERROR,
                },
            }
        },
    }
)
_BENEFIT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"type": "string", "enum": ["yen_off", "percent_off", "free_item", "gift"]},
        "value": {"type": "integer", "minimum": 0, "description": "Yen off, percent off, or the item's worth in yen"},
        "cap": _nullable("integer", minimum=1, description="percent_off: at most this many yen"),
        "item": _nullable("string", maxLength=200, description="free_item, gift: what the customer gets"),
    },
}
_CODE_FORMAT = {
    "type": "object",
    "additionalProperties": False,
    "description": "The codes this coupon hands out: the prefix, then `length` random characters",
    "properties": {
        "prefix": {"type": "string", "maxLength": 8, "default": "", "description": "Letters and digits, no O or I"},
        "alphabet": {
            "type": "string",
            "enum": ["mixed", "digits"],
            "default": "mixed",
            "description": "mixed: letters and digits without 0/O and 1/I; digits: 0-9",
        },
        "length": {"type": "integer", "minimum": 6, "default": 12, "description": "digits: 8 at least"},
    },
}
_HELD = {
    "code": {
        "type": "string",
        "description": "As its coupon's code_format says (12 characters by default); full-width characters, case, "
        "spaces and dashes do not matter when typed, and an O or I typed for 0 or 1 is read as the digit",
    },
    "coupon_id": {"type": "integer"},
    "customer_id": {"type": "integer"},
    "status": {"type": "string", "enum": ["issued", "redeemed", "void"]},
    "issued_at": {"type": "string", "format": "date-time"},
    "expires_at": {
        "type": "string",
        "format": "date-time",
        "description": "The first instant it can no longer be used",
    },
}
DOCUMENT["components"]["schemas"].update(
    {
        "Benefit": _BENEFIT,
        "CodeFormat": _CODE_FORMAT,
        "CouponInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["title", "benefit"],
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "benefit": {"$ref": "#/components/schemas/Benefit"},
                "stock": _nullable("integer", minimum=0, description="null: unlimited"),
                "per_customer_limit": _nullable("integer", minimum=1, default=1, description="null: no limit"),
                "valid_days": _nullable("integer", minimum=1, description="Days from the day of issue, it included"),
                "valid_from": _nullable("string", format="date"),
                "valid_until": _nullable("string", format="date", description="The last day it may be used"),
                "minimum_purchase": {"type": "integer", "minimum": 0, "default": 0, "description": "Yen"},
                "store_codes": {"type": "array", "items": {"type": "string"}, "description": "Empty: every store"},
                "image_url": _nullable("string", maxLength=500),
                "obtain": {"type": "string", "enum": ["claim", "flow", "points", "lottery"], "default": "claim"},
                "points_cost": _nullable("integer", minimum=1, description="obtain points: its price in points"),
                "win_basis_points": _nullable(
                    "integer", minimum=0, maximum=10000, description="obtain lottery: 10000 always wins"
                ),
                "active": {"type": "boolean", "default": True},
                "code_format": {"$ref": "#/components/schemas/CodeFormat"},
            },
        },
        "Coupon": {
            "type": "object",
            "required": ["id", "title", "benefit", "stock", "issued", "per_customer_limit", "valid_days", "active"],
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "image_url": _nullable("string"),
                "benefit": {"$ref": "#/components/schemas/Benefit"},
                "minimum_purchase": {"type": "integer"},
                "valid_days": _nullable("integer"),
                "valid_from": _nullable("string", format="date"),
                "valid_until": _nullable("string", format="date"),
                "stock": _nullable("integer"),
                "issued": {"type": "integer", "description": "How many were handed out"},
                "per_customer_limit": _nullable("integer"),
                "obtain": {"type": "string"},
                "points_cost": _nullable("integer"),
                "win_basis_points": _nullable("integer"),
                "store_codes": {"type": "array", "items": {"type": "string"}},
                "active": {"type": "boolean"},
                "code_format": {"$ref": "#/components/schemas/CodeFormat"},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "IssueInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["customer_id"],
            "properties": {
                "customer_id": {"type": "integer"},
                "idempotency_key": {"type": "string", "maxLength": 150},
            },
        },
        "CustomerCoupon": {"type": "object", "required": list(_HELD), "properties": _HELD},
        "RedeemInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "store_code"],
            "properties": {
                "code": {"type": "string"},
                "store_code": {"type": "string"},
                "customer_id": {"type": "integer", "description": "Refused when the coupon is someone else's"},
                "total": {"type": "integer", "minimum": 0, "description": "The purchase's total in yen"},
                "purchase_external_id": {"type": "string", "description": "The purchase it was used with"},
            },
        },
        "Redemption": {
            "type": "object",
            "required": [*_HELD, "title", "redeemed_at", "store_code", "discount"],
            "properties": {
                **_HELD,
                "title": {"type": "string"},
                "redeemed_at": {"type": "string", "format": "date-time"},
                "store_code": {"type": "string"},
                "discount": _nullable("integer", description="Yen off the total"),
            },
        },
    }
)

_RESERVATION_RULES = (
    "A booking through the API follows the customers' rules: the store's notice and how far ahead one may book "
    "(staff book past them in the console), so what `GET /availability` offers is what this accepts. "
    "Times are answered in the store's time zone."
)
_STARTS_AT = {
    "type": "string",
    "format": "date-time",
    "description": "In the store's time zone, like 2026-12-24T10:00:00+09:00",
}
DOCUMENT["paths"].update(
    {
        "/reservations": {
            "get": {
                "operationId": "listReservations",
                "summary": "A customer's bookings, the latest start first",
                "description": "Booked, cancelled, arrived and no-show bookings (not times held while a customer "
                "confirms on LINE).",
                "parameters": [
                    {"name": "customer_id", "in": "query", "required": True, "schema": {"type": "integer"}},
                    *_PAGING,
                ],
                "responses": {
                    "200": _json(_list_of("#/components/schemas/Reservation"), "The customer's bookings"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                    "410": _ERROR,
                },
            },
            "post": {
                "operationId": "createReservation",
                "summary": "Book a free time for a customer (a phone call, the web shop)",
                "description": "Capacity holds under any concurrency: when no place is left the answer is 409 "
                "`full`. A time that cannot be booked is a 422 with the reason as the code: `past`, `too_soon` "
                "(inside the store's notice), `too_far` (beyond how far ahead it takes bookings), `closed` (the "
                "store is closed that day, or for good), `off_grid` (not one of the menu's start times). With an "
                "`idempotency_key`, the same key again answers 200 with the same booking and books nothing more; "
                "the key used for another booking is a 409 `conflict`. An unknown customer, store or menu is a "
                "404. " + _RESERVATION_RULES,
                "requestBody": _body("#/components/schemas/ReservationInput"),
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Reservation"}, "Already booked with this key"),
                    "201": _json({"$ref": "#/components/schemas/Reservation"}, "Booked"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "410": _ERROR,
                    "415": _ERROR,
                    "422": _ERROR,
                },
            },
        },
        "/stores/{code}/menus": {
            "get": {
                "operationId": "listStoreMenus",
                "summary": "The bookable menus of a store",
                "description": "Active menus in the store's order; none while the store is closed.",
                "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": _json(_list_of("#/components/schemas/Menu"), "Menus, in the store's order"),
                    "401": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/availability": {
            "get": {
                "operationId": "getAvailability",
                "summary": "The free start times of a menu on one day",
                "description": "Start times with at least one place left, that a customer may book now (a day "
                "in the past or beyond the store's horizon has none). " + _RESERVATION_RULES,
                "parameters": [
                    {"name": "store_code", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "menu", "in": "query", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "date",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                        "description": "A business day of the store",
                    },
                ],
                "responses": {
                    "200": _json(_list_of("#/components/schemas/FreeTime"), "Free start times, in order"),
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                },
            }
        },
    }
)
DOCUMENT["components"]["schemas"].update(
    {
        "Reservation": {
            "type": "object",
            "required": ["id", "store_code", "menu", "starts_at", "status"],
            "properties": {
                "id": {"type": "integer"},
                "store_code": {"type": "string"},
                "menu": {"type": "string", "description": "The menu's code"},
                "menu_name": {"type": "string"},
                "starts_at": _STARTS_AT,
                "ends_at": {"type": "string", "format": "date-time"},
                "status": {"type": "string", "enum": ["booked", "cancelled", "arrived", "no_show"]},
                "price": {"type": "integer", "description": "The menu's price in yen when booked"},
                "source": {"type": "string", "enum": ["line", "console", "api"]},
            },
        },
        "ReservationInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["customer_id", "store_code", "menu", "starts_at"],
            "properties": {
                "customer_id": {"type": "integer"},
                "store_code": {"type": "string"},
                "menu": {"type": "string", "description": "The menu's code"},
                "starts_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "With a zone (any offset), one of the free start times",
                },
                "idempotency_key": {"type": "string", "maxLength": 150},
                "note": {"type": "string", "maxLength": 500, "description": "For the staff"},
            },
        },
        "Menu": {
            "type": "object",
            "required": ["code", "name", "duration_minutes", "capacity"],
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "description": _nullable("string"),
                "duration_minutes": {"type": "integer"},
                "capacity": {"type": "integer", "description": "Bookings that may start at the same time"},
                "price": {"type": "integer", "description": "Yen"},
            },
        },
        "FreeTime": {
            "type": "object",
            "required": ["starts_at", "free"],
            "properties": {
                "starts_at": _STARTS_AT,
                "free": {"type": "integer", "minimum": 1, "description": "Places left"},
            },
        },
    }
)

# the scope each operation needs; bot/api/auth.py enforces the same per route
OPERATION_SCOPES = {
    ("/customers", "post"): "customers:write",
    ("/customers", "get"): "customers:read",
    ("/customers/{customer_id}", "get"): "customers:read",
    ("/customers/{customer_id}/points", "get"): "points:read",
    ("/customers/{customer_id}/purchases", "get"): "purchases:read",
    ("/purchases", "post"): "purchases:write",
    ("/purchases/{purchase_id}", "get"): "purchases:read",
    ("/refunds", "post"): "purchases:write",
    ("/stores", "get"): "stores:read",
    ("/stores", "post"): "stores:write",
    ("/coupons", "get"): "coupons:read",
    ("/coupons", "post"): "coupons:write",
    ("/coupons/{coupon_id}/issue", "post"): "coupons:write",
    ("/coupons/redeem", "post"): "coupons:redeem",
    ("/reservations", "get"): "reservations:read",
    ("/reservations", "post"): "reservations:write",
    ("/stores/{code}/menus", "get"): "reservations:read",
    ("/availability", "get"): "reservations:read",
}
for (_path, _method), _scope in OPERATION_SCOPES.items():
    _operation = DOCUMENT["paths"][_path][_method]
    _operation["security"] = [{"bearer": [_scope]}]
    _operation["description"] = (_operation.get("description", "") + f"\n\nNeeds the scope `{_scope}`.").strip()
    _operation["responses"].setdefault("403", _ERROR)


def openapi_document():
    """This API's OpenAPI document."""
    return jsonify(DOCUMENT)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/openapi.json", view_func=openapi_document, methods=["GET"])
