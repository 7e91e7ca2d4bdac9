# The portal reads through `objects` (guarded); Django's machinery through `rows`.

import django.db.models.manager
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("federation", "0007_delete_auditevent"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apitoken",
            options={"default_manager_name": "rows", "ordering": ["-created_at"]},
        ),
        migrations.AlterModelOptions(
            name="rolemapping",
            options={"default_manager_name": "rows", "ordering": ["tenant__name", "label"]},
        ),
        migrations.AlterModelManagers(
            name="apitoken",
            managers=[
                ("rows", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AlterModelManagers(
            name="rolemapping",
            managers=[
                ("rows", django.db.models.manager.Manager()),
            ],
        ),
    ]
