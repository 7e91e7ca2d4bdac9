"""The keyed hash covers the actor's id from now on.

Records already written keep content version 1 and verify as they did; every new record
is version 2, whose hash covers `actor_id` (and the version). So that nothing may change a
covered column, deleting an account no longer clears `actor_id` (ids are never given again):
the foreign key keeps the id without a database constraint, and the triggers refuse every
UPDATE, where they allowed clearing the actor until now.

Migrating back removes the version column: records written since then no longer verify
under the previous release, which knows only version 1. Upgrades are meant to go forward.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from audit import chain as audit_chain

# The table's columns before this migration (for the triggers it replaces), and after it.
BEFORE = [
    "id",
    "created_at",
    "tenant_id",
    "actor_id",
    "actor_username",
    "action",
    "mapping_id",
    "role_arn",
    "role_session_name",
    "source_identity",
    "duration_seconds",
    "client_ip",
    "user_agent",
    "request_id",
    "aws_request_id",
    "assumed_role_arn",
    "error_code",
    "detail",
    "sequence",
    "prev_hash",
    "hash",
    "key_id",
]
AFTER = [*BEFORE, "content_version"]


def drop_triggers(apps, schema_editor):
    audit_chain.drop_triggers(schema_editor)


def install_triggers(apps, schema_editor):
    audit_chain.install_triggers(schema_editor, AFTER)


def install_previous_triggers(apps, schema_editor):
    audit_chain.install_triggers(schema_editor, BEFORE, actor_may_be_cleared=True)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_audit_tenant_sequence"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # SQLite rebuilds the table to change it, which would lose the triggers.
        migrations.RunPython(drop_triggers, install_previous_triggers),
        # Existing records: version 1. New ones get CONTENT_VERSION from the model.
        migrations.AddField(
            model_name="auditevent",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="content_version",
            field=models.PositiveSmallIntegerField(default=2, editable=False),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(install_triggers, drop_triggers),
    ]
