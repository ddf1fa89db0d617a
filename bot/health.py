"""GET /healthz: does the database answer, with the schema this version needs, and are events processed?"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from crm_core import events
from crm_core.migrate import schema_problem

bp = Blueprint("health", __name__)

# a webhook event waiting longer than this means nothing is processing them (workers down or stuck)
PENDING_TOO_LONG = timedelta(minutes=5)


@bp.get("/healthz")
def healthz():
    """Report whether the service and its database answer, and why not when they do not."""
    kizuna = current_app.extensions["kizuna"]
    problem = schema_problem(kizuna.engine)
    if problem is not None:
        return jsonify({"status": "unavailable", "reason": problem}), 503
    try:
        with kizuna.uow_factory() as uow:
            oldest = events.oldest_pending(uow=uow)
            waited = max((uow.now() - oldest).total_seconds(), 0) if oldest is not None else 0
    except SQLAlchemyError as error:
        return jsonify({"status": "unavailable", "reason": f"cannot reach the database ({type(error).__name__})"}), 503
    if waited > PENDING_TOO_LONG.total_seconds():
        reason = f"a LINE event has waited {waited:.0f} s to be processed: are the event workers running?"
        return jsonify({"status": "unavailable", "reason": reason, "oldest_pending_seconds": round(waited)}), 503
    return jsonify({"status": "ok", "oldest_pending_seconds": round(waited)})
