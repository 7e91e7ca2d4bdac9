"""Who is locked out after failed sign-ins, and the page they see (django-axes hooks).

axes records each failure as an AccessAttempt (username, address, user agent) and asks
the handler whether a sign-in may go ahead. Its own rule is one limit for every parameter,
which would lock a whole office behind one NAT address after five typos. The rules here:

- a person (the username, case-folded) after LOGIN_FAILURE_LIMIT failures from any one address;
- a person after LOGIN_FAILURE_LIMIT_ANYWHERE failures from anywhere (a slow, spread guess);
- an address only after LOGIN_ADDRESS_FAILURE_LIMIT failures across usernames (spraying).

Each counts the failures inside the cool-off window, and a lockout lasts the cool-off.
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render

from accounts.models import User


def username_for_lockout(request, credentials):
    """The name axes counts failures against: the account's own username when the name
    signs in to one, case-folded, so every spelling that reaches one account ("Bob", "BOB",
    and on PostgreSQL even "bOb" with a dotless ı) shares one counter."""
    typed = credentials.get("username") if credentials else request.POST.get("username")
    # Stored by axes: no NUL (PostgreSQL refuses it) and no longer than any username can be.
    typed = str(typed or "").replace("\x00", "").strip()[:150]
    cache = request.__dict__.setdefault("_lockout_names", {})
    if typed not in cache:
        account = (
            User.objects.filter(username__iexact=typed).values_list("username", flat=True).first()
            if typed
            else None
        )
        cache[typed] = (account or typed).casefold()[:150]
    return cache[typed]


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per rule (see the module's docstring)."""

    def get_failures(self, request, credentials=None):
        """How many of the lockout rules this sign-in breaks now (AXES_FAILURE_LIMIT is 1,
        so any one locks). A person's lock holds wherever they sign in from."""
        window = {"attempt_time__gte": get_cool_off_threshold(request)}
        from_here = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address, **window
        ).aggregate(failures=Sum("failures_since_start"))["failures"]
        address_locked = (from_here or 0) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT
        if not get_client_username(request, credentials):
            # A failure that names nobody counts against its address only: as a "person"
            # named "" it would lock everyone out.
            return int(address_locked)
        per_address = [
            failures
            for _, failures in AccessAttempt.objects.filter(
                username=get_client_username(request, credentials), **window
            )
            .values_list("ip_address")
            .annotate(Sum("failures_since_start"))
            .order_by()
        ]
        return sum(
            [
                max(per_address, default=0) >= settings.LOGIN_FAILURE_LIMIT,
                sum(per_address) >= settings.LOGIN_FAILURE_LIMIT_ANYWHERE,
                address_locked,
            ]
        )


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
