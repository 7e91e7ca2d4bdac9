"""Probes for the process manager and the load balancer, and the portal's error pages."""

import sys

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core import health, metrics

# The probes are answered by core.middleware.ProbeMiddleware, without the HTTPS redirect
# and ahead of the host check, since a kubelet or a load balancer asks over plain HTTP at
# the host's own address.


@require_safe
@never_cache
def healthz(request):
    """Liveness: the process is up and answering."""
    return HttpResponse("ok\n", content_type="text/plain")


@require_safe
@never_cache
def readyz(request):
    """Readiness: the database answers a query, and what the rooms above check (the
    background worker's queue, the broker's AWS credentials); 503 when any is not ready, so
    traffic goes elsewhere. A caller who may read /metrics gets one line a check; anyone
    else the status line alone, since the details describe the deployment."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        found = [health.Finding("database", False, "unavailable")]
    else:
        found = [health.Finding("database", True, "ok"), *health.findings()]
    ready = all(f.ready for f in found)
    if metrics.may_read(request):
        report = "".join(f"{f.name}: {f.detail}\n" for f in found)
    else:
        report = "ready\n" if ready else "not ready\n"
    return HttpResponse(report, content_type="text/plain", status=200 if ready else 503)


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's)."""
    return redirect(static("portal/favicon.svg"), permanent=True)


# --- error pages: each names the request id, so a report can be matched to the logs ---------


def error_page(request, message, status, *, title="Something went wrong"):
    response = render(
        request,
        "core/error.html",
        {"title": title, "message": message, "request_id": getattr(request, "request_id", "")},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


def error_response(request, error, *, as_json=False):
    """The one answer to a PortalError, for pages and the JSON API alike: its status, its
    title and message (with the request id), Retry-After when known, never cached."""
    if as_json:
        response = JsonResponse(
            {
                "error": error.message,
                "code": error.code or type(error).__name__,
                "request_id": getattr(request, "request_id", ""),
            },
            status=error.status,
        )
        response["Cache-Control"] = "no-store"
    else:
        response = error_page(request, error.message, error.status, title=error.title)
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


def _error(request, status, title, message):
    return error_page(request, message, status, title=title)


def bad_request(request, exception=None):
    return _error(request, 400, "Check the request", "The portal could not read that request.")


def permission_denied(request, exception=None):
    return _error(request, 403, "Not allowed", "You are not allowed to do that.")


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing here, or it is not yours to see.")


def server_error(request):
    # Rendered without the database or the signed-in user: either may be what failed.
    # A database that cannot be reached (restarting, failing over) is an outage, not a bug:
    # 503 with Retry-After, so clients and load balancers wait and try again.
    unavailable = isinstance(sys.exc_info()[1], OperationalError | InterfaceError)
    response = render(
        request,
        "500.html",
        {"request_id": getattr(request, "request_id", ""), "unavailable": unavailable},
        status=503 if unavailable else 500,
        using=None,
    )
    response["Cache-Control"] = "no-store"
    if unavailable:
        response["Retry-After"] = "5"
    return response
