"""Kizuna's CRM core: customers, channels, outbox and events. Knows no web framework, no LINE SDK."""
