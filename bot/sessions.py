"""Flask sessions: signed cookies for the consoles, none at all for stateless routes.

The webhook, the REST API and the health check never read a session, so they skip opening one
(the webhook's hot path), and the cookie serializer is built once instead of on every request.
"""

from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface

STATELESS_PREFIXES = ("/callback", "/api/", "/healthz")


class KizunaSessionInterface(SecureCookieSessionInterface):
    def __init__(self):
        self._serializer = None
        self._serializer_key = None

    def get_signing_serializer(self, app):
        if self._serializer is None or self._serializer_key != app.secret_key:
            self._serializer = super().get_signing_serializer(app)
            self._serializer_key = app.secret_key
        return self._serializer

    def open_session(self, app, request):
        if request.path.startswith(STATELESS_PREFIXES):
            return self.null_session_class()
        return super().open_session(app, request)
