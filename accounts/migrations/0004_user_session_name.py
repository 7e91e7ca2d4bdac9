"""Give every person a unique AWS session name, and forget unconfirmed authenticator keys.

Existing people keep the name AWS has seen for them so far (the username with what AWS
refuses replaced by "-"), so their CloudTrail history still matches; where two people had
come to the same name, the later account gets "-2", "-3"…
"""

import re

from django.db import migrations, models
from django.db.models.functions import Lower

# How names were made before this migration: frozen here, whatever the code does later.
_FORBIDDEN = re.compile(r"[^\w+=,.@-]", re.ASCII)


def _legacy_name(username):
    return _FORBIDDEN.sub("-", username)[:64].ljust(2, "-")


def assign_session_names(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    taken = set()
    for user in User.objects.order_by("pk").only("pk", "username").iterator():
        base = candidate = _legacy_name(user.username)
        n = 1
        while candidate.lower() in taken:
            n += 1
            suffix = f"-{n}"
            candidate = base[: 64 - len(suffix)] + suffix
        taken.add(candidate.lower())
        User.objects.filter(pk=user.pk).update(session_name=candidate)


def forget_unconfirmed_authenticators(apps, schema_editor):
    # Keys offered during set-up used to be stored on the account before confirmation,
    # where anyone who knew the password could see them. Set-up now keeps them in the
    # browser session; the ones left behind must not be confirmable.
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    TOTPDevice.objects.filter(confirmed=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_tenant_require_mfa"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="session_name",
            field=models.CharField(
                default="",
                editable=False,
                help_text="How CloudTrail names this person's sessions (RoleSessionName and "
                "SourceIdentity). Given once; unique.",
                max_length=64,
                verbose_name="AWS session name",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(assign_session_names, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                Lower("session_name"),
                name="accounts_user_session_name_ci_unique",
                violation_error_message="Another person already has that AWS session name.",
            ),
        ),
        migrations.RunPython(forget_unconfirmed_authenticators, migrations.RunPython.noop),
    ]
