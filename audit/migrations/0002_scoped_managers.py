# The portal reads through `objects` (guarded); Django's machinery through `rows`.

import django.db.models.manager
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={"default_manager_name": "rows", "ordering": ["-created_at", "-id"]},
        ),
        migrations.AlterModelManagers(
            name="auditevent",
            managers=[
                ("rows", django.db.models.manager.Manager()),
            ],
        ),
    ]
