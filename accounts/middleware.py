from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts import mfa

# Reachable before the second factor: signing out, health probes and static files.
OPEN_PATHS = ("/logout/", "/healthz", "/readyz", "/static/")


class SecondFactorMiddleware:
    """A signed-in person who has a second factor must give a code before anything else;
    one who must have one (staff, or a tenant that requires it) must first set it up."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified():
            if mfa.has_second_factor(user):
                target = reverse("verify")
            elif mfa.required_for(user):
                target = reverse("two-factor")
            else:
                target = None
            if target and not request.path.startswith((target, *OPEN_PATHS)):
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
