"""GET /healthz: does the database answer with the schema this version needs, are the helpers alive, and are
LINE events being processed?

The helpers rule (crm_core.heartbeats): a scheduler (which also works through LINE events) must have
reported within the last 30 s, wherever it runs; the healthy answer lists the helpers alive. An event
that waited more than 5 minutes means nothing is processing, whatever the heartbeats say.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from crm_core import events, heartbeats
from crm_core.migrate import schema_problem

bp = Blueprint("health", __name__)
PENDING_TOO_LONG = timedelta(minutes=5)


@bp.get("/healthz")
def healthz():
    """Report whether the service and its database answer, and why not when they do not."""
    services = current_app.extensions["kizuna"]
    problem = schema_problem(services.engine)
    if problem is not None:
        return jsonify({"status": "unavailable", "reason": problem}), 503
    try:
        with services.uow_factory() as uow:
            helpers = heartbeats.report(uow=uow)
            oldest = events.oldest_pending(uow=uow)
            waited = round(max((uow.now() - oldest).total_seconds(), 0)) if oldest is not None else 0
    except SQLAlchemyError as error:
        return jsonify({"status": "unavailable", "reason": f"cannot reach the database ({type(error).__name__})"}), 503
    if helpers.problem is not None:
        return jsonify({"status": "unavailable", "reason": helpers.problem, "oldest_pending_seconds": waited}), 503
    if waited > PENDING_TOO_LONG.total_seconds():
        reason = f"a LINE event has waited {waited} s to be processed: are the event workers running?"
        return jsonify({"status": "unavailable", "reason": reason, "oldest_pending_seconds": waited}), 503
    return jsonify(
        {"status": "ok", "oldest_pending_seconds": waited, "helpers": [_helper(helper) for helper in helpers.alive]}
    )


def _helper(helper: heartbeats.Helper) -> dict:
    return {
        "helper": helper.helper,
        "host": helper.host,
        "pid": helper.pid,
        "seconds_since_report": int(helper.silent_for.total_seconds()),
    }
