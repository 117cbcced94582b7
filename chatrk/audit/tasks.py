"""Background work of the audit log (thin: the work is in ``checkpoints``)."""

from __future__ import annotations

from django.tasks import task

from chatrk.audit import checkpoints


@task
def publish_checkpoint_if_due() -> int | None:
    """Run every minute: sequences pending events; signs and exports a checkpoint when due."""
    published = checkpoints.publish_if_due()
    return published.tree_size if published else None
