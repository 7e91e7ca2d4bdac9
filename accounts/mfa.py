"""The second factor: TOTP authenticator apps and passkeys (accounts.passkeys), with one-time
recovery codes (django-otp).

Who must have one: staff (operators and tenant admins) and the members of any tenant whose
policy requires it. Whoever has one is asked for a code after their password, every time.
Until then such a person can do nothing but enrol (or answer the code prompt).
"""

import base64
import math
import time

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from core.sessions import AUTHENTICATED_AT

AUTHENTICATOR_DIGITS = 6


def required_for(user):
    return bool(
        user.is_staff
        or user.is_superuser
        or user.memberships.filter(tenant__require_mfa=True, tenant__active=True).exists()
    )


def _factors(user):
    """The person's second factors proper: authenticator apps and passkeys, not the
    recovery codes that stand in for them."""
    return [
        device
        for device in devices_for_user(user, confirmed=True)
        if not isinstance(device, StaticDevice)
    ]


def has_second_factor(user, *, besides_recovery_codes=False):
    if not besides_recovery_codes:
        return user_has_device(user, confirmed=True)
    return bool(_factors(user))


def passkeys_left(user):
    """How many passkeys the person has (accounts.passkeys registers them)."""
    return sum(1 for device in _factors(user) if not isinstance(device, TOTPDevice))


def has_authenticator_app(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# Re-authenticating in two steps: the first factor again (password, or signing in again at
# the company's provider), then the second (a code or a passkey) within SECOND_STEP_SECONDS.
FIRST_FACTOR_AGAIN_AT = "portcullis_first_factor_again_at"
SECOND_STEP_SECONDS = 300


def mark_authenticated(request):
    """The person just proved who they are, both factors (the password or a new sign-in at
    their provider, and their second factor when they have one): a new session key, and a
    fresh clock for re-authentication. A second factor alone moves no clock: it would let
    someone holding an old session (and their own new authenticator) pass for fresh."""
    request.session.cycle_key()
    request.session[AUTHENTICATED_AT] = time.time()


def keep_verified(request):
    """After one of the person's second factors is removed: the session stays verified
    with another one (the person proved themselves to remove it), or none is left."""
    remaining = _factors(request.user) or list(devices_for_user(request.user, confirmed=True))
    current = request.session.get(DEVICE_ID_SESSION_KEY)
    if remaining and current not in {device.persistent_id for device in remaining}:
        otp_login(request, remaining[0])


def recently_authenticated(request, within=None):
    """The person proved who they are in the last `within` seconds (REAUTH_SECONDS)."""
    within = settings.REAUTH_SECONDS if within is None else within
    return time.time() - request.session.get(AUTHENTICATED_AT, 0) <= within


class CodeThrottled(Exception):
    """Codes were tried too fast: django-otp refuses to check one for `seconds` more.

    Not a wrong code, so not a failed sign-in: the person is asked to wait instead.
    """

    def __init__(self, seconds):
        super().__init__(f"Wait {seconds} seconds before trying another code.")
        self.seconds = seconds


def _clean(code):
    code = "".join((code or "").split())
    return code if 0 < len(code) <= 16 else ""


def code_from(post):
    """The code a form sent: the authenticator's, or a recovery code (its own field, so
    phones show a keyboard with letters for it)."""
    return post.get("code") or post.get("recovery_code") or ""


def verify_code(request, code):
    """Check a code (authenticator or recovery) and mark the session verified if it fits.

    Returns the device, or None for a wrong code; raises CodeThrottled when django-otp's
    backoff after an earlier wrong code has not run out, so the code was not checked.
    A six-digit code is tried on the authenticator only and anything else on the recovery
    codes, so a recovery code never counts as a wrong authenticator code (or back).
    """
    code = _clean(code)
    if not code:
        return None
    authenticator_code = code.isdigit() and len(code) == AUTHENTICATOR_DIGITS
    kind = TOTPDevice if authenticator_code else StaticDevice
    waits = []
    for device in devices_for_user(request.user):
        if not isinstance(device, kind):
            continue
        allowed, info = device.verify_is_allowed()
        if not allowed:
            waits.append((info or {}).get("locked_until") or timezone.now())
        elif device.verify_token(code):
            otp_login(request, device)
            request.session.cycle_key()
            return device
    if waits:
        seconds = math.ceil((max(waits) - timezone.now()).total_seconds())
        raise CodeThrottled(max(seconds, 1))
    return None


# The key offered while setting up an authenticator lives in this browser session only:
# someone else who knows the password sees another key, and an attempt that is never
# confirmed leaves nothing on the account.
ENROLMENT_KEY = "portcullis_enrolment_key"


def _enrolment_device(request):
    key = request.session.get(ENROLMENT_KEY)
    if not key:
        key = request.session[ENROLMENT_KEY] = random_hex(20)
    return TOTPDevice(user=request.user, name="Authenticator", key=key, confirmed=True)


def enrolment_details(request):
    """The QR code and the typed key of this set-up attempt."""
    device = _enrolment_device(request)
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return {
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111"),
        "manual_key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
    }


def confirm_enrolment(request, code):
    """A first right code saves the authenticator of this attempt and switches it on;
    returns the new recovery codes (None for a wrong code)."""
    code = _clean(code)
    if not code.isdigit() or ENROLMENT_KEY not in request.session:
        return None
    device = _enrolment_device(request)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(int(code), device.tolerance):
        return None
    device.last_t = totp.t()  # the same code cannot be used again to sign in
    with transaction.atomic():
        device.save()
        codes = new_recovery_codes(request.user)
    del request.session[ENROLMENT_KEY]
    otp_login(request, device)
    request.session.cycle_key()
    return codes


def new_recovery_codes(user):
    """Replace the person's recovery codes; returns the new ones (shown once)."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="Recovery codes", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.OTP_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def remove_second_factor(user):
    """Every second factor the person has: authenticator app, passkeys, recovery codes."""
    for device in devices_for_user(user, confirmed=None):
        device.delete()


def remove_authenticator_app(user):
    """The authenticator app only; the recovery codes go too when nothing else is left."""
    TOTPDevice.objects.filter(user=user).delete()
    forget_lone_recovery_codes(user)


def forget_lone_recovery_codes(user):
    """Recovery codes alone are no second factor: they go with the last one."""
    if not _factors(user):
        remove_second_factor(user)
