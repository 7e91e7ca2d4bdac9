"""Signed-in sessions keep working across the upgrade: password sessions named Django's
ModelBackend, which the settings now replace with accounts.backends.PasswordBackend (the
same check, plus the identity provider's rule). Without this, everyone would be signed out."""

from django.db import migrations

OLD = "django.contrib.auth.backends.ModelBackend"
NEW = "accounts.backends.PasswordBackend"


def rename_backend(apps, schema_editor, old=OLD, new=NEW):
    from django.contrib.sessions.backends.db import SessionStore

    Session = apps.get_model("sessions", "Session")
    store = SessionStore()
    for session in Session.objects.using(schema_editor.connection.alias).iterator():
        data = store.decode(session.session_data)
        if data.get("_auth_user_backend") == old:
            data["_auth_user_backend"] = new
            Session.objects.using(schema_editor.connection.alias).filter(pk=session.pk).update(
                session_data=store.encode(data)
            )


def rename_back(apps, schema_editor):
    rename_backend(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_identity_providers"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(rename_backend, rename_back)]
