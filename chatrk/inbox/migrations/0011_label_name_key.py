"""Labels are unique per workspace without case ("VIP" and "vip" were two labels): each label gets its
caseless key, and labels whose keys collide are merged into the first created, whose spelling stays;
the conversations carrying a merged label carry the first one instead."""

import unicodedata
from typing import Any

from django.db import migrations, models


def key_of(name: str) -> str:  # Label.key_of as of this migration
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def merge_case_duplicates(apps: Any, schema_editor: Any) -> None:
    label_model = apps.get_model("inbox", "Label")
    tagging = apps.get_model("inbox", "ConversationLabel")
    first: dict[tuple[int, str], Any] = {}
    for label in label_model.objects.order_by("workspace_id", "created_at", "id"):
        kept = first.setdefault((label.workspace_id, key_of(label.name)), label)
        if kept.pk == label.pk:
            label_model.objects.filter(pk=label.pk).update(name_key=key_of(label.name))
            continue
        tagged = tagging.objects.filter(label_id=kept.pk).values("conversation_id")
        tagging.objects.filter(label_id=label.pk).exclude(conversation_id__in=tagged).update(label_id=kept.pk)
        label.delete()  # and its rows on conversations that already carry the first
    if schema_editor.connection.vendor == "postgresql":  # ALTER TABLE refuses pending foreign-key checks
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0010_note_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="label",
            name="name_key",
            field=models.CharField(default="", max_length=120),
            preserve_default=False,
        ),
        migrations.RunPython(merge_case_duplicates, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(model_name="label", name="label_name_per_workspace"),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.UniqueConstraint(
                fields=("workspace", "name_key"), name="label_name_key_per_workspace"
            ),
        ),
    ]
