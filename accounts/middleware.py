import time

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts import mfa
from core.sessions import PROVIDER_FACTOR

FREE_CHECKED_AT = "portcullis_second_factor_free_at"
RECHECK_SECONDS = 60

# Reachable before the second factor: signing out, static files and the passkey
# ceremonies (which make their own checks: django-otp-webauthn). The health probes are
# answered before this middleware (core.middleware.ProbeMiddleware).
OPEN_PATHS = ("/logout/", "/static/", "/webauthn/")


class SecondFactorMiddleware:
    """A signed-in person who has a second factor must give a code before anything else;
    one who must have one (staff, or a tenant that requires it) must first set it up."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and request.session.get(PROVIDER_FACTOR):
            # The identity provider asked for a second factor at this sign-in, and the
            # tenant counts it (accounts.sso): as good as the portal's own code.
            user.is_verified = lambda: True
        if user.is_authenticated and not user.is_verified():
            target = self._target(request, user)
            # Until then nothing but that page and signing out works: the navigation
            # (templates/base.html) offers only those.
            request.second_factor_due = bool(target)
            if target and not request.path.startswith((target, *OPEN_PATHS)):
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _target(request, user):
        # Someone with no second factor who needs none is checked again once a minute,
        # not on every request: a new requirement takes hold within that minute.
        checked = request.session.get(FREE_CHECKED_AT, 0)
        if time.time() - checked < RECHECK_SECONDS:
            return None
        if mfa.has_second_factor(user):
            return reverse("verify")
        if mfa.required_for(user):
            return reverse("two-factor")
        request.session[FREE_CHECKED_AT] = time.time()
        return None
