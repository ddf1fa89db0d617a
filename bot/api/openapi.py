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
        "description": "Customers and stores of a Kizuna shop, for the POS, the e-commerce site and BI. "
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
                        "description": "Name, kana, member number, phone digits, e-mail, external id or LINE user id.",
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
                "summary": "The stores",
                "responses": {"200": _json(_list_of("#/components/schemas/Store"), "Every store"), "401": _ERROR},
            }
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
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "`kizuna tokens create`"}},
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
                    "name_kana": _nullable("string", maxLength=200),
                    "birth_date": _nullable("string", format="date"),
                    "phone": _nullable("string", maxLength=40),
                    "email": _nullable("string", maxLength=254),
                    "locale": {"type": "string", "enum": ["ja", "en"]},
                },
            },
            "Store": {
                "type": "object",
                "required": ["code", "name"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    },
}


def openapi_document():
    """This API's OpenAPI document."""
    return jsonify(DOCUMENT)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/openapi.json", view_func=openapi_document, methods=["GET"])
