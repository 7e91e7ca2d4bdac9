from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and tenants"

    def ready(self):
        from accounts import metrics as accounts_metrics
        from accounts import signals  # noqa: F401 - connects the receivers
        from accounts.models import Tenant
        from audit import views as audit_views
        from core import metrics

        # Sign-ins are counted here (the refused ones from their audit records).
        metrics.record_counters.add(accounts_metrics.count_record)
        # The audit page, beneath this app, offers a person the tenants they run.
        audit_views.managed_tenants.answer(
            lambda user: Tenant.objects.for_user(user, action="manage")
        )
