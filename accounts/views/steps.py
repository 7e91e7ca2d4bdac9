"""Where a person goes next: the page they asked for (never another site), or proving who they
are first."""

import time

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from accounts import mfa


def next_url(request, default="home"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse(default)


def confirm_first(next_url):
    """The re-authentication page, and then `next_url`."""
    return redirect(f"{reverse('reauthenticate')}?{urlencode({'next': next_url})}")


def second_step(request, next_url):
    """The first factor is proven again: the re-authentication page asks for the second."""
    request.session[mfa.FIRST_FACTOR_AGAIN_AT] = time.time()
    return confirm_first(next_url)
