"""Prometheus metrics: what the portal counts and times, and how `/metrics` shows it.

Counters and histograms live in each process. Under gunicorn (several workers) and beside
the background worker and the clock, every process of a host writes them to files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multi-process mode; gunicorn.conf.py sets it
up), and a scrape adds them up. Figures that the database already knows (requests waiting,
the task queue) are read at scrape time by collectors that the rooms above register here,
so they are the same whichever process answers. Each room defines its own counters (its
`metrics` module) and counts there, from what it does or from the audit records about it
(`record_counters`); core keeps the rate limits' counter, the registries and `/metrics`.

Labels stay few and bounded: kinds, outcomes, operations, tenant slugs. Never a person,
a role ARN, an address or anything secret.
"""

import hmac
import ipaddress
import os
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import Metric

from core.hooks import Registry
from core.net import client_ip

# Seconds: an AWS call or an audit commit is milliseconds when all is well, seconds when not.
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RATE_LIMITED = Counter(
    "portcullis_rate_limited",
    "Requests refused by a rate limit, by limit (issue, access, sso...)",
    ["limit"],
)

# What each room counts as audit records are written (audit.records.record calls
# count_record): added to by the rooms above, with their own counters, when they are ready.
RecordCounter = Callable[[str, str], None]
record_counters: Registry[RecordCounter] = Registry("audit record counters")


def count_record(action: str, tenant_slug: str) -> None:
    """Count what an audit record says happened, in the room it concerns."""
    for count in record_counters:
        count(action, tenant_slug)


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
