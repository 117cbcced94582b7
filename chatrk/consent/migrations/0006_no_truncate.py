"""The consent ledger's guards again, now idempotent and refusing TRUNCATE on PostgreSQL too."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from chatrk.consent.guard import install_guards


def install(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    install_guards(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("consent", "0005_opt_out_reply_and_send_failures")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
