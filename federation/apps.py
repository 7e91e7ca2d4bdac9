from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "AWS access"

    def ready(self):
        from audit import views as audit_views
        from core import health, metrics
        from federation import (
            checks,  # registers the deployment checks
            signals,  # noqa: F401 - connects the receivers
        )
        from federation import metrics as federation_metrics
        from federation.models import RoleMapping, account_names

        # The audit page, beneath this app, offers an admin the roles of their grants and
        # names their accounts.
        audit_views.role_suggestions.answer(RoleMapping.objects.role_arns_managed_by)
        audit_views.account_names.answer(account_names)
        # /readyz, beneath this app, says whether the portal's AWS credentials resolve.
        health.checks.add(checks.aws_readiness)
        # Issuances are counted here, from their audit records.
        metrics.record_counters.add(federation_metrics.count_record)
