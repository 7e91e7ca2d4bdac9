"""Prometheus metrics: what the portal counts and times, and how `/metrics` shows it.

Counters and histograms live in each process. Under gunicorn (several workers) and beside
the background worker and the clock, every process of a host writes them to files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multi-process mode; gunicorn.conf.py sets it
up), and a scrape adds them up. Figures that the database already knows (requests waiting,
the task queue) are read at scrape time by collectors that the rooms above register here,
so they are the same whichever process answers.

Labels stay few and bounded: kinds, outcomes, operations, tenant slugs. Never a person,
a role ARN, an address or anything secret.
"""

import functools
import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import Metric

from core.hooks import Registry
from core.net import client_ip

F = TypeVar("F", bound=Callable[..., Any])

# Seconds: an AWS call or an audit commit is milliseconds when all is well, seconds when not.
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Seconds from a request to its decision: minutes to a day.
DECISION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)

ISSUANCES = Counter(
    "portcullis_issuances",
    "Console sign-in URLs and CLI credentials, by kind (console, cli), outcome (issued, "
    "failed, denied) and tenant",
    ["kind", "outcome", "tenant"],
)
AWS_CALLS = Histogram(
    "portcullis_aws_call_seconds",
    "Calls to AWS (STS, IAM, the federation endpoint), by operation and outcome (ok or the "
    "error code)",
    ["operation", "outcome"],
    buckets=FAST_BUCKETS,
)
AUDIT_WRITES = Histogram(
    "portcullis_audit_write_seconds",
    "Writing one audit record, the commit included",
    buckets=FAST_BUCKETS,
)
SIGN_INS = Counter(
    "portcullis_sign_ins",
    "Sign-ins by method (password, sso) and outcome (succeeded, failed, locked)",
    ["method", "outcome"],
)
LOCKOUTS = Counter("portcullis_lockouts", "Sign-ins refused because the account was locked")
RATE_LIMITED = Counter(
    "portcullis_rate_limited",
    "Requests refused by a rate limit, by limit (issue, access, sso...)",
    ["limit"],
)
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
STREAM_FAILURES = Counter(
    "portcullis_audit_stream_failures",
    "Failed attempts to deliver audit records to a SIEM sink",
    ["kind"],
)

# Actions of the audit trail that are counted as they are recorded: {action: counter call}.
_ISSUANCE_OUTCOMES = {"issued", "failed", "denied"}
_SIGN_IN_ACTIONS = {
    "login.failed": ("password", "failed"),
    "login.locked": ("password", "locked"),
    "login.sso_failed": ("sso", "failed"),
}


def count_record(action: str, tenant_slug: str) -> None:
    """Count what an audit record says happened (audit.records.record calls this)."""
    kind, _, outcome = action.partition(".")
    if kind in ("console", "cli") and outcome in _ISSUANCE_OUTCOMES:
        ISSUANCES.labels(kind, outcome, tenant_slug or "-").inc()
    elif action in _SIGN_IN_ACTIONS:
        SIGN_INS.labels(*_SIGN_IN_ACTIONS[action]).inc()
        if action == "login.locked":
            LOCKOUTS.inc()
    elif kind in ("request", "breakglass"):
        ACCESS_REQUESTS.labels(f"{kind}.{outcome}", tenant_slug or "-").inc()
    elif action == "notification.failed":
        NOTIFICATION_FAILURES.inc()


def _signed_in(sender, request, user, **kwargs) -> None:
    backend = getattr(user, "backend", "") or ""
    method = "sso" if "Provider" in backend.rsplit(".", 1)[-1] else "password"
    SIGN_INS.labels(method, "succeeded").inc()


user_logged_in.connect(_signed_in, dispatch_uid="portcullis.metrics.signed_in")


def timed_aws_call(operation: str) -> Callable[[F], F]:
    """Decorate a function of the AWS door: each call is timed under `operation`, its
    outcome "ok" or the code of the error it raised (the portal's errors carry AWS's)."""

    def decorate(call: F) -> F:
        @functools.wraps(call)
        @sensitive_variables("args", "kwargs")  # the door's arguments carry credentials
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, outcome = time.perf_counter(), "ok"
            try:
                return call(*args, **kwargs)
            except Exception as error:
                outcome = getattr(error, "code", "") or type(error).__name__
                raise
            finally:
                AWS_CALLS.labels(operation, outcome).observe(time.perf_counter() - started)

        return timed  # type: ignore[return-value]

    return decorate


# --- figures read at scrape time -----------------------------------------------------------

Collect = Callable[[], Iterable[Metric]]
# Functions that read a room's figures from the database when someone scrapes: added to by
# the rooms above, when their apps are ready.
collectors: Registry[Collect] = Registry("metric collectors")


class _Registered:
    def collect(self) -> Iterable[Metric]:
        for collect in collectors:
            yield from collect()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return registry


# --- /metrics ------------------------------------------------------------------------------


def may_read(request: HttpRequest) -> bool:
    """Whether the caller may read what the portal says about itself (/metrics, the details
    of /readyz): a bearer token from METRICS_TOKEN, or an address in METRICS_ALLOWED_IPS."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    address = client_ip(request)
    if not address or not settings.METRICS_ALLOWED_IPS:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in settings.METRICS_ALLOWED_NETWORKS)


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for a scraper with the token or from an allowed address;
    anyone else finds nothing here (404)."""
    if not may_read(request):
        raise Http404
    body = generate_latest(_registry()) + generate_latest(_collected)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


_collected = CollectorRegistry(auto_describe=False)
_collected.register(_Registered())  # type: ignore[arg-type]
