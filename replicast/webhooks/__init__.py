"""Webhooks: which events a prediction sends, signed, delivered from an outbox, retried."""
