"""The address a request came from, trusting X-Forwarded-For only as far as KIZUNA_TRUSTED_PROXIES says.

With no trusted proxy (the default) it is the TCP peer: a client cannot choose its own address by
sending the header. Behind N proxies it is the N-th address from the right of X-Forwarded-For, the
one the outermost trusted proxy saw.
"""

from __future__ import annotations

import ipaddress

from flask import Request, current_app


def of_request(request: Request) -> str | None:
    """The client's IP address, or None when it cannot be told."""
    hops = current_app.extensions["kizuna"].settings.trusted_proxies
    address = request.remote_addr
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address((address or "").strip()))
    except ValueError:
        return None
