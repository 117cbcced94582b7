"""Inbound webhooks: the signed POST stored once, then drained into the inbox (docs/pipeline.md)."""
