# The portal reads through `objects` (guarded); Django's machinery through `rows`.

import django.db.models.manager
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_user_session_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="membership",
            options={
                "default_manager_name": "rows",
                "ordering": ["tenant__name", "user__username"],
            },
        ),
        migrations.AlterModelOptions(
            name="team",
            options={"default_manager_name": "rows", "ordering": ["tenant__name", "name"]},
        ),
        migrations.AlterModelOptions(
            name="tenant",
            options={"default_manager_name": "rows", "ordering": ["name"]},
        ),
        migrations.AlterModelManagers(
            name="membership",
            managers=[
                ("rows", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AlterModelManagers(
            name="team",
            managers=[
                ("rows", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AlterModelManagers(
            name="tenant",
            managers=[
                ("rows", django.db.models.manager.Manager()),
            ],
        ),
    ]
