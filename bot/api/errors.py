"""Every API answer that is not a success: JSON `{"error": {"code", "message"}}` with a fitting 4xx."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from crm_core.errors import (
    AlreadyReversed,
    CardNeeded,
    Conflict,
    Erased,
    InsufficientPoints,
    InvalidInput,
    KizunaError,
    NotFound,
)

log = logging.getLogger(__name__)
API_PREFIX = "/api/"

_STATUS = {
    CardNeeded: 403,
    NotFound: 404,
    Erased: 410,
    Conflict: 409,
    InsufficientPoints: 409,
    AlreadyReversed: 409,
    InvalidInput: 422,
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    500: "internal",
}


class ApiError(Exception):
    """Refuse the request: `status`, a machine `code` and an English `message`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="kizuna"'
    return response


def _api_error(error: ApiError):
    return error_response(error.status, error.code, error.message)


def _domain_error(error: KizunaError):
    status = next((status for kind, status in _STATUS.items() if isinstance(error, kind)), 422)
    return error_response(status, error.code, str(error))


def _http_error(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        log.error("API answered %s for %s %s", status, request.method, request.path)
    return error_response(status, _HTTP_CODES.get(status, "error"), error.description or error.name)


def _routing_error(error: HTTPException):
    """Unknown routes and methods under /api/ answer JSON too; every other path keeps its own error page."""
    if request.path.startswith(API_PREFIX):
        return _http_error(error)
    return error


def register(bp: Blueprint) -> None:
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(KizunaError, _domain_error)
    bp.register_error_handler(HTTPException, _http_error)

    @bp.record_once
    def _app_handlers(state):
        state.app.register_error_handler(404, _routing_error)
        state.app.register_error_handler(405, _routing_error)
