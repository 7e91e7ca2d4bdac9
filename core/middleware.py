"""Request-wide plumbing."""

import contextvars
import re
import time
import uuid
import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.db import DataError
from django.utils import timezone

from core.errors import PortalError
from core.logging import bind, request_context
from core.sessions import SEEN_AT, SIGNED_IN_AT
from core.validation import known_time_zones
from core.views import bad_request, error_response, healthz, readyz

_CLEAN_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id, echoed in X-Request-ID and written on audit records.

    Behind a trusted proxy (TRUSTED_PROXY_COUNT > 0) a well-formed X-Request-ID it set is
    kept, so one id follows the request through the proxy's logs and ours; a client's own
    header is never believed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "") if settings.TRUSTED_PROXY_COUNT else ""
        request.request_id = incoming if _CLEAN_ID.match(incoming) else uuid.uuid4().hex
        token = request_context.set({"request_id": request.request_id})
        try:
            response = self.get_response(request)
        finally:
            request_context.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class ProbeMiddleware:
    """/healthz and /readyz, answered before the host check, the session and everything
    after (and exempt from the HTTPS redirect, SECURE_REDIRECT_EXEMPT): a kubelet or a load
    balancer probes over plain HTTP (no X-Forwarded-Proto) at the host's own address, which
    is no name in ALLOWED_HOSTS, and a probe redirected to https or refused as a bad host
    takes a healthy host out of service."""

    PROBES = {"/healthz": healthz, "/readyz": readyz}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = self.PROBES.get(request.path_info)
        return probe(request) if probe else self.get_response(request)


class PortalErrorMiddleware:
    """A PortalError a view lets through becomes its answer here, the one mapping for pages
    and the JSON API (`/api/`) alike: its status, title and message, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, PortalError):
            return error_response(request, exception, as_json=request.path.startswith("/api/"))
        return None


class SessionTimeoutMiddleware:
    """End a signed-in session after SESSION_IDLE_SECONDS without a request, or
    SESSION_ABSOLUTE_SECONDS after sign-in, whichever comes first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            signed_in_at = session.setdefault(SIGNED_IN_AT, now)
            seen_at = session.get(SEEN_AT, now)
            if (
                now - seen_at > settings.SESSION_IDLE_SECONDS
                or now - signed_in_at > settings.SESSION_ABSOLUTE_SECONDS
            ):
                logout(request)
                messages.info(request, "Your session ended. Please sign in again.")
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                return redirect_to_login(request.get_full_path())
            # Written at most once a minute, not on every request.
            if now - seen_at > 60 or SEEN_AT not in session:
                session[SEEN_AT] = now
            bind(user=request.user.get_username())
        return self.get_response(request)


class PrivateCacheMiddleware:
    """Pages for a signed-in person are never stored by a browser or proxy cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response


class RejectNulMiddleware:
    """A NUL character in a query or form value is never meant: answer 400 at once.

    PostgreSQL refuses NUL in text, so such a value reaching a query (an admin search or
    filter, say) would otherwise end in a database error.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for query in [request.GET, request.POST] if request.method == "POST" else [request.GET]:
            for key, values in query.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return bad_request(request)
        return self.get_response(request)


class OutOfRangeMiddleware:
    """A number or date in a request beyond what the database or the calendar holds (an id
    past 2**63, year 10000) is bad input, not a server error: answer 400.

    SQLite raises OverflowError when such a number reaches a query, PostgreSQL a DataError
    ("out of range"); form fields and lookups meet them in many places (admin choices,
    filters), so they are caught once, here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OverflowError) or (
            isinstance(exception, DataError) and "out of range" in str(exception)
        ):
            return bad_request(request)
        return None


# The request being served, for audit records written by signal receivers (a person
# deactivated in the admin, a team changed...), which Django calls without one.
current_request = contextvars.ContextVar("portcullis_current_request", default=None)


class CurrentRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)


# The browser's time zone, as tz.js reports it (a person's own setting wins).
TIME_ZONE_COOKIE = "portcullis_tz"


class TimeZoneMiddleware:
    """Pages show times in the viewer's zone: their own setting (`user.time_zone`), else
    their browser's, else UTC. Machine formats (the API, the CSV, logs) stay UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        chosen = getattr(user, "time_zone", "") if user and user.is_authenticated else ""
        browser = request.COOKIES.get(TIME_ZONE_COOKIE, "")
        name = chosen or browser
        # The browser's zone this page is drawn in, written on it (templates/base.html) when
        # drawing it again is safe: tz.js draws it again at once when the browser has moved
        # since, rather than leave the first page after a move in the old zone.
        request.browser_time_zone = browser if not chosen and request.method == "GET" else None
        if name in known_time_zones():
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
