"""What access on request counts and times: requests moving from state to state, how long
a decision takes, and notifications given up on."""

from prometheus_client import Counter, Histogram

# Seconds from a request to its decision: minutes to a day.
DECISION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)

ACCESS_REQUESTS = Counter(
    "portcullis_access_request_events",
    "Access requests moving to a state (created, approved, denied, activated, ended...), by tenant",
    ["state", "tenant"],
)
DECISION_SECONDS = Histogram(
    "portcullis_access_request_decision_seconds",
    "Time from an access request to its approval or denial",
    buckets=DECISION_BUCKETS,
)
NOTIFICATION_FAILURES = Counter(
    "portcullis_notification_failures",
    "Notifications given up on after their retries (e-mail or a channel)",
)


def count_record(action: str, tenant_slug: str) -> None:
    """A request's move, or a notification given up on, as its audit record says."""
    kind, _, outcome = action.partition(".")
    if kind in ("request", "breakglass"):
        ACCESS_REQUESTS.labels(f"{kind}.{outcome}", tenant_slug or "-").inc()
    elif action == "notification.failed":
        NOTIFICATION_FAILURES.inc()
