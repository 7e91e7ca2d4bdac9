"""Hooks that django-axes calls while counting failed sign-ins."""

from django.conf import settings
from django.shortcuts import render


def username_for_lockout(request, credentials):
    """The username axes counts failures against: case-folded, so Bob and BOB share one."""
    username = credentials.get("username") if credentials else request.POST.get("username")
    # Stored by axes: no NUL (PostgreSQL refuses it) and no longer than any username can be.
    return str(username or "").replace("\x00", "").strip().casefold()[:150]


def lockout_response(request, original_response=None, credentials=None):
    """The page shown while locked out.

    It is the same for every username, known or not, so it cannot be used to find out who
    has an account.
    """
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = render(request, "accounts/locked.html", {"cooloff_minutes": minutes}, status=429)
    response["Cache-Control"] = "no-store"
    response["Retry-After"] = str(minutes * 60)
    return response
