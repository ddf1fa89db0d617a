"""Conversations: one module per flow. Each step takes an EventContext, calls crm_core, and replies."""
