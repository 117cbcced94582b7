"""Stored subtree roots for O(log n) proofs (see chatrk/audit/proofs.py), filled for the signed log."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from chatrk.audit.merkle import Frontier

MIN_LEVEL = 8  # SUBTREE_MIN_LEVEL when this migration was written


def store_subtrees_of_the_signed_log(apps: Apps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    """The subtrees up to the latest checkpoint; each later checkpoint stores those it completes."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditCheckpoint = apps.get_model("audit", "AuditCheckpoint")
    AuditSubtree = apps.get_model("audit", "AuditSubtree")
    latest = AuditCheckpoint.objects.order_by("-tree_size").first()
    if latest is None:
        return
    leaves = (
        AuditEvent.objects.filter(seq__lt=latest.tree_size)
        .order_by("seq")
        .values_list("leaf_hash", flat=True)
    )
    frontier, subtrees = Frontier(), []
    for leaf in leaves.iterator(chunk_size=10_000):
        for level, root in enumerate(frontier.append(bytes(leaf or b"")), start=1):
            if level >= MIN_LEVEL:
                subtrees.append(AuditSubtree(level=level, start=frontier.size - (1 << level), root_hash=root))
        if len(subtrees) >= 1_000:
            AuditSubtree.objects.bulk_create(subtrees)
            subtrees = []
    AuditSubtree.objects.bulk_create(subtrees)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditSubtree",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "level", "start", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("level", models.PositiveSmallIntegerField()),
                ("start", models.BigIntegerField()),
                ("root_hash", models.BinaryField(max_length=32)),
            ],
        ),
        migrations.RunPython(store_subtrees_of_the_signed_log, migrations.RunPython.noop),
    ]
