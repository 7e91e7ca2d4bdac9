from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "AWS access"

    def ready(self):
        from audit import views as audit_views
        from federation import (
            checks,  # noqa: F401 - registers the deployment checks
            signals,  # noqa: F401 - connects the receivers
        )
        from federation.models import RoleMapping

        # The audit page, beneath this app, offers an admin the roles of their grants.
        audit_views.role_suggestions = RoleMapping.objects.role_arns_managed_by
