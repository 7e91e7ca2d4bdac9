from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "AWS access"

    def ready(self):
        from federation import (
            checks,  # noqa: F401 - registers the deployment checks
            signals,  # noqa: F401 - connects the receivers
        )
