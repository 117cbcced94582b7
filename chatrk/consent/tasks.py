"""Thin tasks: take ids, call actions. Idempotent: the claims make a second run send nothing more.

``send_consent_messages`` runs every minute (``settings.PERIODIC_TASKS``, scheduled by the worker).
"""

from __future__ import annotations

from django.tasks import task

from chatrk.consent.models import DoubleOptIn, OptOutConfirmation


@task
def send_consent_messages() -> None:
    """Queues the double opt-in requests owed, and any opt-out confirmation the drain could not queue
    (it normally queues it in the batch that stored the STOP)."""
    from chatrk.outbound import system

    owed = DoubleOptIn.objects.filter(claimed_at__isnull=True, confirmed_at__isnull=True)
    for workspace_id in owed.values_list("workspace_id", flat=True).distinct().order_by():
        system.send_double_opt_ins(workspace_id)
    unclaimed = OptOutConfirmation.objects.filter(claimed_at__isnull=True)
    for workspace_id, contact_id in unclaimed.values_list("workspace_id", "contact_id").distinct().order_by():
        system.send_opt_out_confirmation(workspace_id, contact_id)
