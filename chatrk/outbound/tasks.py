"""Thin tasks: take ids, call the read-receipt functions. Idempotent: running one twice sends once.

``send_due_read_receipts`` runs every minute (``settings.PERIODIC_TASKS``): retries after a transient
failure, and receipts whose enqueue never ran.
"""

from __future__ import annotations

from django.tasks import task

from chatrk.outbound import receipts


@task
def send_read_receipt(conversation_id: int) -> str:
    return receipts.send(conversation_id)


@task
def send_due_read_receipts() -> int:
    return receipts.send_due()
