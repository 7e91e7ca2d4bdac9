from django.db import migrations, models

from audit import chain as audit_chain

# The table's columns at this migration: the triggers allow an UPDATE only when none of
# them but actor_id changes (a deleted user's id is cleared).
COLUMNS = [
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
]


def chain_existing_records(apps, schema_editor):
    AuditEvent = apps.get_model("federation", "AuditEvent")
    previous = audit_chain.GENESIS_HASH
    for sequence, event in enumerate(AuditEvent.objects.order_by("id").iterator(), start=1):
        event.sequence, event.prev_hash = sequence, previous
        event.hash = previous = audit_chain.digest(event)
        AuditEvent.objects.filter(pk=event.pk).update(
            sequence=event.sequence, prev_hash=event.prev_hash, hash=event.hash
        )


def install_triggers(apps, schema_editor):
    audit_chain.install_triggers(schema_editor, COLUMNS, actor_may_be_cleared=True)


def drop_triggers(apps, schema_editor):
    audit_chain.drop_triggers(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("federation", "0002_audit_review")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="sequence",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="previous hash"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="SHA-256"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_records, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="sequence",
            field=models.BigIntegerField(editable=False, unique=True),
        ),
        migrations.RunPython(install_triggers, drop_triggers),
    ]
