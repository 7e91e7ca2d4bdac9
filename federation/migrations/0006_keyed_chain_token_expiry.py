"""Key the audit chain (HMAC-SHA256 under AUDIT_CHAIN_KEY) and give API tokens an expiry.

Existing audit records keep their plain SHA-256 chain untouched; one keyed record
(`audit.keyed`) is appended after them, chained to their head, so that rewriting them
afterwards breaks the keyed chain. Existing live tokens work for API_TOKEN_DEFAULT_DAYS
from the upgrade, so nobody's command line stops on the day of the upgrade.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from audit import chain as audit_chain

# The table's columns after this migration, for the triggers (0003's, plus key_id).
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
    "key_id",
]


def drop_triggers(apps, schema_editor):
    audit_chain.drop_triggers(schema_editor)


def install_triggers(apps, schema_editor):
    audit_chain.install_triggers(schema_editor, COLUMNS, actor_may_be_cleared=True)


def install_previous_triggers(apps, schema_editor):
    audit_chain.install_triggers(schema_editor, COLUMNS[:-1], actor_may_be_cleared=True)


def seal_unkeyed_records(apps, schema_editor):
    AuditEvent = apps.get_model("federation", "AuditEvent")
    using = schema_editor.connection.alias
    audit_chain.lock_chain(using)
    last = AuditEvent.objects.using(using).order_by("-sequence").first()
    if last is None:
        return
    seal = AuditEvent(
        sequence=last.sequence + 1,
        prev_hash=last.hash,
        created_at=timezone.now(),
        action="audit.keyed",
        actor_username="",
        detail=(
            f"records #1-#{last.sequence} carry plain SHA-256; from here on every record is "
            f"keyed (HMAC-SHA256). Head of the unkeyed records: {last.hash}"
        ),
        key_id=audit_chain.current_key_id(),
    )
    seal.hash = audit_chain.digest(seal)
    seal.save(using=using)


def give_tokens_an_expiry(apps, schema_editor):
    ApiToken = apps.get_model("federation", "ApiToken")
    expires_at = timezone.now() + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)
    ApiToken.objects.filter(expires_at__isnull=True).update(expires_at=expires_at)


class Migration(migrations.Migration):
    dependencies = [
        ("federation", "0005_audit_filter_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(give_tokens_an_expiry, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(),
        ),
        # SQLite rebuilds the table to add a column, which would lose the triggers.
        migrations.RunPython(drop_triggers, install_previous_triggers),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=16, verbose_name="key ID"
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("console.requested", "Console Requested"),
                    ("console.issued", "Console Issued"),
                    ("console.failed", "Console Failed"),
                    ("console.denied", "Console Denied"),
                    ("cli.requested", "Cli Requested"),
                    ("cli.issued", "Cli Issued"),
                    ("cli.failed", "Cli Failed"),
                    ("cli.denied", "Cli Denied"),
                    ("mapping.granted", "Mapping Granted"),
                    ("mapping.changed", "Mapping Changed"),
                    ("mapping.revoked", "Mapping Revoked"),
                    ("sessions.revoked", "Sessions Revoked"),
                    ("sessions.denied", "Sessions Denied"),
                    ("sessions.failed", "Sessions Failed"),
                    ("token.created", "Token Created"),
                    ("token.revoked", "Token Revoked"),
                    ("audit.exported", "Audit Exported"),
                    ("mfa.enrolled", "Mfa Enrolled"),
                    ("mfa.removed", "Mfa Removed"),
                    ("login.failed", "Login Failed"),
                    ("login.locked", "Login Locked"),
                    ("user.deactivated", "User Deactivated"),
                    ("user.reactivated", "User Reactivated"),
                    ("user.password_changed", "Password Changed"),
                    ("user.password_reset", "Password Reset"),
                    ("membership.added", "Membership Added"),
                    ("membership.changed", "Membership Changed"),
                    ("membership.removed", "Membership Removed"),
                    ("team.created", "Team Created"),
                    ("team.changed", "Team Changed"),
                    ("team.deleted", "Team Deleted"),
                    ("audit.keyed", "Audit Keyed"),
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, verbose_name="HMAC-SHA256"),
        ),
        migrations.RunPython(install_triggers, drop_triggers),
        migrations.RunPython(seal_unkeyed_records, migrations.RunPython.noop),
    ]
