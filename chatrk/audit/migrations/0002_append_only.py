"""Triggers that make the audit tables append-only (see chatrk/audit/guard.py)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from chatrk.audit.guard import install_guards, remove_guards


def install(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    install_guards(schema_editor.connection)


def remove(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    remove_guards(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
