"""GET /healthz: does the database answer, with the schema this version needs, and are the helpers alive?

The helpers rule (crm_core.heartbeats): a scheduler and a process that works through LINE events
must have reported within the last 30 s, wherever they run; the healthy answer lists them.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from crm_core import heartbeats
from crm_core.migrate import schema_problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the service and its database answer, and why not when they do not."""
    services = current_app.extensions["kizuna"]
    problem = schema_problem(services.engine)
    if problem is not None:
        return jsonify({"status": "unavailable", "reason": problem}), 503
    with services.uow_factory() as uow:
        helpers = heartbeats.report(uow=uow)
    if helpers.problem is not None:
        return jsonify({"status": "unavailable", "reason": helpers.problem}), 503
    return jsonify({"status": "ok", "helpers": [_helper(helper) for helper in helpers.alive]})


def _helper(helper: heartbeats.Helper) -> dict:
    return {
        "helper": helper.helper,
        "host": helper.host,
        "pid": helper.pid,
        "seconds_since_report": int(helper.silent_for.total_seconds()),
    }
