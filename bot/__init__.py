"""Kizuna's web process: the LINE webhook, consoles, REST API and the LINE simulator."""
