from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access on request"

    def ready(self):
        from access import selectors
        from federation.services import activation

        # Issuance, beneath this app, asks here for a person's open window on a grant.
        activation.register_window_lookup(selectors.open_window)
