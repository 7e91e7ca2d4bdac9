"""What the accounts app counts: sign-ins by method and outcome, and lockouts."""

from django.contrib.auth.signals import user_logged_in
from prometheus_client import Counter

SIGN_INS = Counter(
    "portcullis_sign_ins",
    "Sign-ins by method (password, sso) and outcome (succeeded, failed, locked)",
    ["method", "outcome"],
)
LOCKOUTS = Counter("portcullis_lockouts", "Sign-ins refused because the account was locked")
# The audit actions of a sign-in that did not happen: {action: (method, outcome)}.
_SIGN_IN_ACTIONS = {
    "login.failed": ("password", "failed"),
    "login.locked": ("password", "locked"),
    "login.sso_failed": ("sso", "failed"),
}


def count_record(action: str, tenant_slug: str) -> None:
    """A sign-in refused, as its audit record says."""
    if action in _SIGN_IN_ACTIONS:
        SIGN_INS.labels(*_SIGN_IN_ACTIONS[action]).inc()
        if action == "login.locked":
            LOCKOUTS.inc()


def _signed_in(sender, request, user, **kwargs) -> None:
    backend = getattr(user, "backend", "") or ""
    method = "sso" if "Provider" in backend.rsplit(".", 1)[-1] else "password"
    SIGN_INS.labels(method, "succeeded").inc()


user_logged_in.connect(_signed_in, dispatch_uid="portcullis.metrics.signed_in")
