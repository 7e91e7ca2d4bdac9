from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access on request"

    def ready(self):
        from access import metrics as access_metrics
        from access import selectors, worker
        from core import health, metrics
        from federation.services import activation

        # Issuance, beneath this app, asks here for a person's open window on a grant.
        activation.open_window.answer(selectors.open_window)
        # /readyz and /metrics, beneath it too, report the background worker and requests.
        health.checks.add(worker.readiness)
        metrics.collectors.add(worker.collect)
        # Requests' moves and notifications given up on are counted here, from their records.
        metrics.record_counters.add(access_metrics.count_record)
