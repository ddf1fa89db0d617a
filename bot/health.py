"""GET /healthz: does the database answer, with the schema this version needs?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from crm_core.migrate import schema_problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the service and its database answer, and why not when they do not."""
    problem = schema_problem(current_app.extensions["kizuna"].engine)
    if problem is not None:
        return jsonify({"status": "unavailable", "reason": problem}), 503
    return jsonify({"status": "ok"})
