"""The baseline for bench/webhook.py: a bare Flask /callback that only checks X-Line-Signature.

Served by gunicorn with the same settings as `kizuna serve` (gthread, 2 workers x 8 threads):

    LINE_CHANNEL_SECRET=... gunicorn --chdir bench --worker-class gthread --workers 2 --threads 8 bare_webhook:app
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from flask import Flask, jsonify, request

app = Flask("kizuna_bare_webhook")
_SECRET = os.environ.get("LINE_CHANNEL_SECRET", "").encode()


@app.post("/callback")
def callback():
    body = request.get_data(cache=False)
    signature = request.headers.get("X-Line-Signature", "")
    expected = base64.b64encode(hmac.new(_SECRET, body, hashlib.sha256).digest())
    if not signature or not _SECRET or not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return jsonify({"error": {"code": "bad_signature", "message": "X-Line-Signature does not match."}}), 400
    return jsonify({})


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
