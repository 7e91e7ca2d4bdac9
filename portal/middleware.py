"""Request-wide plumbing."""

import re
import uuid

from django.conf import settings

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
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
