"""``chatrk reindexnames``: rebuild the name words the inbox searches by, for every workspace."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chatrk.core.models import Workspace
from chatrk.inbox.actions import reindex_names


class Command(BaseCommand):
    help = "Rebuild the blind-indexed name words of every contact (after an upgrade or an index key change)."

    def handle(self, *args: Any, **options: Any) -> None:
        for workspace_id in Workspace.objects.order_by("pk").values_list("pk", flat=True):
            done = reindex_names(workspace_id)
            self.stdout.write(f"workspace {workspace_id}: {done} contact(s)")
