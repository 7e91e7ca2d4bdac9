from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        # Connects the kick: each committed record queues deliveries to the sinks.
        from audit import tasks
        from core import metrics

        # /metrics, beneath this app, reports how far behind each sink is.
        metrics.collectors.add(tasks.collect)
