"""Security headers: a strict policy on the console and the customer pages, nosniff everywhere.

The webhook, the REST API and the health check answer machines: they get `nosniff` only. The LINE
simulator of the demo (`/simulator`) is a developer tool and keeps the browser's defaults.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

MACHINE_PREFIXES = ("/callback", "/api/", "/healthz", "/simulator")
CAMERA_PREFIXES = ("/console/till",)  # the till scans the card's QR code with the camera
HSTS = "max-age=31536000"


def content_security_policy(*, form_targets: tuple[str, ...] = ()) -> str:
    """No inline script, no framing; forms post here (the account link also redirects to LINE)."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action " + " ".join(("'self'", *form_targets)),
            "frame-ancestors 'none'",
        )
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def init_app(app: Flask, *, public_url: str, line_access_base_url: str) -> None:
    """Add the headers to every response of `app`."""
    line_origin = _origin(line_access_base_url)
    policy = content_security_policy(form_targets=(line_origin,) if line_origin else ())
    hsts = public_url.startswith("https://")

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith(MACHINE_PREFIXES):
            return response
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        camera = "(self)" if request.path.startswith(CAMERA_PREFIXES) else "()"
        headers.setdefault("Permissions-Policy", f"camera={camera}, microphone=(), geolocation=(), payment=()")
        if hsts:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
