"""Flask blueprints: the emulated Messaging API, and the simulator page with its JSON endpoints."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, jsonify, redirect, request, url_for

from bot.simulator.emulator import LineEmulator, WebhookDeliveryError

STATIC_DIR = Path(__file__).parent / "static"
API_METHODS = ["GET", "POST", "PUT", "DELETE"]


def create_line_api_blueprint(emulator: LineEmulator, name: str = "line_api") -> Blueprint:
    """Serve LINE's Messaging API routes (``/v2/bot/...``) from ``emulator``."""
    bp = Blueprint(name, __name__)
    bp.kizuna_csrf_exempt = True  # the LINE SDK posts JSON with a bearer token, never a form

    @bp.route("/v2/bot/<path:rest>", methods=API_METHODS)
    def messaging_api(rest: str) -> Response:
        """Answer a Messaging API call the way LINE would."""
        answer = emulator.handle(
            request.method,
            "/v2/bot/" + rest,
            headers=dict(request.headers),
            body=request.get_data(cache=False) or None,
        )
        response = jsonify(answer.body if answer.body is not None else {})
        response.status_code = answer.status
        response.headers.update(answer.headers)
        return response

    return bp


def create_simulator_blueprint(emulator: LineEmulator, name: str = "simulator") -> Blueprint:
    """Serve the simulator page and the JSON endpoints it drives (``/`` and ``/api/...``)."""
    bp = Blueprint(name, __name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    bp.kizuna_csrf_exempt = True  # a developer tool posting JSON; nothing here is a browser form

    def user_or_404(line_user_id: str) -> dict:
        for user in emulator.users():
            if user["line_user_id"] == line_user_id:
                return user
        abort(404)

    def deliver(events: list[dict]) -> tuple[Response, int]:
        try:
            status = emulator.deliver(events)
        except (WebhookDeliveryError, RuntimeError) as exc:
            return jsonify({"delivered": False, "error": str(exc)}), 502
        if status >= 400:
            return jsonify({"delivered": False, "error": f"the webhook answered HTTP {status}"}), 502
        return jsonify({"delivered": True, "status": status}), 200

    @bp.get("/")
    def page() -> Response:
        """Serve the simulator page."""
        html = (STATIC_DIR / "simulator.html").read_bytes()
        return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})

    @bp.get("/api/users")
    def list_users() -> Response:
        """List the LINE users."""
        return jsonify({"items": emulator.users()})

    @bp.post("/api/users")
    def create_user() -> tuple[Response, int]:
        """Create a LINE user."""
        data = request.get_json(silent=True) or {}
        name = str(data.get("display_name", "")).strip()
        language = data.get("language", "ja")
        if not name or language not in ("ja", "en"):
            return jsonify({"error": "display_name and language (ja or en) are required"}), 400
        line_user_id = emulator.add_user(name[:20], language)
        return jsonify(user_or_404(line_user_id)), 201

    @bp.post("/api/users/<line_user_id>/follow")
    def follow(line_user_id: str) -> tuple[Response, int]:
        """Add the bot as a friend, or unblock it."""
        user = user_or_404(line_user_id)
        return deliver([emulator.follow(line_user_id, is_unblocked=user["blocked"])])

    @bp.post("/api/users/<line_user_id>/unfollow")
    def unfollow(line_user_id: str) -> tuple[Response, int]:
        """Block the bot."""
        user_or_404(line_user_id)
        return deliver([emulator.unfollow(line_user_id)])

    @bp.post("/api/users/<line_user_id>/text")
    def send_text(line_user_id: str) -> tuple[Response, int]:
        """Send a text message to the bot."""
        user_or_404(line_user_id)
        text = str((request.get_json(silent=True) or {}).get("text", ""))
        if not text.strip():
            return jsonify({"error": "text is required"}), 400
        return deliver([emulator.text(line_user_id, text[:5000])])

    @bp.post("/api/users/<line_user_id>/postback")
    def postback(line_user_id: str) -> tuple[Response, int]:
        """Tap a postback (or datetimepicker) action."""
        user_or_404(line_user_id)
        data = request.get_json(silent=True) or {}
        params = data.get("params")
        if params is not None and not (isinstance(params, dict) and all(isinstance(v, str) for v in params.values())):
            return jsonify({"error": "params must be an object of strings"}), 400
        event = emulator.postback(
            line_user_id, str(data.get("data", "")), params=params, display_text=data.get("displayText")
        )
        return deliver([event])

    @bp.get("/api/users/<line_user_id>/messages")
    def messages(line_user_id: str) -> Response:
        """Return chat items newer than ``after``, the user's state, and the app's invalid requests."""
        user = user_or_404(line_user_id)
        after = request.args.get("after", 0, type=int)
        return jsonify(
            {
                "user": user,
                "items": emulator.items_after(line_user_id, after),
                "rich_menu": emulator.rich_menu_for(line_user_id),
                "invalid_requests": [
                    {"path": r["path"], "status": r["status"], "reason": r["reason"], "at": r["at"]}
                    for r in emulator.invalid_requests[-5:]
                ],
                "invalid_count": len(emulator.invalid_requests),
            }
        )

    @bp.get("/dialog/bot/accountLink")
    def account_link_dialog() -> Response:
        """Finish LINE's account link dialog, then return to the user's chat."""
        link_token = request.args.get("linkToken", "")
        nonce = request.args.get("nonce", "")
        if not link_token or not nonce:
            abort(400)
        try:
            line_user_id, _ = emulator.complete_account_link(link_token, nonce, line_user_id=request.args.get("user"))
        except WebhookDeliveryError as exc:
            return Response(str(exc), status=502, mimetype="text/plain")
        target = url_for(f"{bp.name}.page")
        return redirect(f"{target}?user={line_user_id}" if line_user_id else target)

    return bp
