"""The trail moves from the federation app to its own: the same table, the same rows, the
same triggers; only Django's idea of which app owns the model changes (no data moves)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def own_the_content_type(apps, schema_editor):
    # Keep the content type (and the permissions and admin history that point at it).
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="federation", model="auditevent").update(app_label="audit")


def give_back_the_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="audit", model="auditevent").update(app_label="federation")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0004_user_session_name"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The table, its columns and triggers as the federation app last left them.
        ("federation", "0006_keyed_chain_token_expiry"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "created_at",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                        ("actor_username", models.CharField(blank=True, max_length=150)),
                        (
                            "action",
                            models.CharField(
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
                        ("mapping_id", models.BigIntegerField(blank=True, null=True)),
                        (
                            "role_arn",
                            models.CharField(blank=True, max_length=2048, verbose_name="role ARN"),
                        ),
                        ("role_session_name", models.CharField(blank=True, max_length=64)),
                        ("source_identity", models.CharField(blank=True, max_length=64)),
                        ("duration_seconds", models.PositiveIntegerField(blank=True, null=True)),
                        ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, max_length=256)),
                        (
                            "request_id",
                            models.CharField(
                                blank=True, max_length=64, verbose_name="portal request ID"
                            ),
                        ),
                        (
                            "aws_request_id",
                            models.CharField(
                                blank=True, max_length=128, verbose_name="AWS request ID"
                            ),
                        ),
                        (
                            "assumed_role_arn",
                            models.CharField(
                                blank=True, max_length=2048, verbose_name="assumed-role ARN"
                            ),
                        ),
                        ("error_code", models.CharField(blank=True, max_length=64)),
                        ("detail", models.CharField(blank=True, max_length=500)),
                        ("sequence", models.BigIntegerField(editable=False, unique=True)),
                        (
                            "prev_hash",
                            models.CharField(
                                editable=False, max_length=64, verbose_name="previous hash"
                            ),
                        ),
                        (
                            "hash",
                            models.CharField(
                                editable=False, max_length=64, verbose_name="HMAC-SHA256"
                            ),
                        ),
                        (
                            "key_id",
                            models.CharField(
                                blank=True, editable=False, max_length=16, verbose_name="key ID"
                            ),
                        ),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "tenant",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="audit_events",
                                to="accounts.tenant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "federation_auditevent",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["tenant", "-created_at", "-id"],
                                name="federation__tenant__15198a_idx",
                            ),
                            models.Index(
                                fields=["actor_username", "-created_at", "-id"],
                                name="federation__actor_u_223451_idx",
                            ),
                            models.Index(
                                fields=["role_arn", "-created_at", "-id"],
                                name="federation__role_ar_fe297f_idx",
                            ),
                            models.Index(
                                condition=models.Q(("action", "sessions.revoked")),
                                fields=["tenant", "role_arn", "-created_at"],
                                name="audit_sessions_revoked",
                            ),
                        ],
                    },
                )
            ]
        ),
        migrations.RunPython(own_the_content_type, give_back_the_content_type),
    ]
