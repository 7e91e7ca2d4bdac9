"""A tenant's sink reads that tenant's records after its cursor: an index on (tenant,
sequence). On PostgreSQL it is built CONCURRENTLY, so the trail keeps taking records (and
the portal keeps issuing) while the index of a long trail is built during an upgrade."""

from django.db import migrations, models

INDEX = models.Index(fields=["tenant", "sequence"], name="audit_tenant_sequence")


def create(apps, schema_editor):
    model = apps.get_model("audit", "AuditEvent")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop(apps, schema_editor):
    model = apps.get_model("audit", "AuditEvent")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("audit", "0006_audit_sinks")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="auditevent", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop)],
        )
    ]
