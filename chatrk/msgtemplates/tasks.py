"""Thin tasks: take ids, call actions. Idempotent: running one twice changes nothing more.

``sync_all_templates`` runs every 15 minutes (``settings.PERIODIC_TASKS``, scheduled by the worker).
"""

from __future__ import annotations

from django.tasks import task

from chatrk.inbox.models import Channel
from chatrk.msgtemplates import actions
from chatrk.whatsapp.errors import GraphError


@task
def submit_template(template_id: int) -> None:
    actions.submit_to_meta(template_id)


@task
def sync_channel_templates(channel_id: int) -> None:
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None or channel.health == Channel.Health.DISCONNECTED:
        return
    try:
        actions.sync_templates(channel)
    except GraphError:
        return  # the next run tries again; the channel's health check reports credentials problems


@task
def sync_all_templates() -> None:
    for channel_id in Channel.objects.exclude(health=Channel.Health.DISCONNECTED).values_list(
        "pk", flat=True
    ):
        sync_channel_templates.enqueue(channel_id)
