"""Serve a LineEmulator's Messaging API over real HTTP on a free loopback port (for tests)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from bot.simulator.blueprint import create_line_api_blueprint, create_simulator_blueprint
from bot.simulator.emulator import LineEmulator


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Keep test output free of access-log lines."""


class EmulatorServer:
    """A LINE emulator listening on ``base_url`` (``http://127.0.0.1:<port>``) in a daemon thread.

    The Messaging API is at ``base_url + "/v2/bot/..."``; the simulator page at ``base_url + "/simulator/"``.
    """

    def __init__(self, emulator: LineEmulator | None = None, **emulator_kwargs: Any) -> None:
        if emulator is None:
            emulator_kwargs.setdefault("channel_secret", "test-channel-secret")
            emulator_kwargs.setdefault("channel_access_token", "test-channel-access-token")
            emulator = LineEmulator(**emulator_kwargs)
        self.emulator = emulator
        app = Flask("kizuna_line_emulator")
        app.register_blueprint(create_line_api_blueprint(emulator))
        app.register_blueprint(create_simulator_blueprint(emulator), url_prefix="/simulator")
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="line-emulator", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
