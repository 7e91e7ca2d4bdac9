"""Where a request comes from."""

from django.conf import settings


def client_ip(request):
    """The client's address: REMOTE_ADDR, or the entry a trusted proxy added.

    X-Forwarded-For is believed only as far as TRUSTED_PROXY_COUNT proxies vouch for it:
    with N proxies the client is the N-th address from the right. Anything further left
    was written by the client and is ignored, so a forged header cannot reset a lockout
    counter or disguise an audit record.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")
