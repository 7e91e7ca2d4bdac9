"""The second factor: TOTP authenticator apps, with one-time recovery codes (django-otp).

Who must have one: staff (operators and tenant admins) and the members of any tenant whose
policy requires it. Whoever has one is asked for a code after their password, every time.
Until then such a person can do nothing but enrol (or answer the code prompt).
"""

import base64
import time

import segno
from django.conf import settings
from django_otp import devices_for_user, match_token, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

# When the person last proved who they are (password or code): issuing credentials needs
# this to be younger than REAUTH_SECONDS.
AUTHENTICATED_AT = "portcullis_authenticated_at"


def required_for(user):
    return bool(
        user.is_staff
        or user.is_superuser
        or user.memberships.filter(tenant__require_mfa=True, tenant__active=True).exists()
    )


def has_second_factor(user):
    return user_has_device(user, confirmed=True)


def mark_authenticated(request):
    """The person just proved who they are: a new session key, and a fresh clock."""
    request.session.cycle_key()
    request.session[AUTHENTICATED_AT] = time.time()


def recently_authenticated(request):
    return time.time() - request.session.get(AUTHENTICATED_AT, 0) <= settings.REAUTH_SECONDS


def verify_code(request, code):
    """Check a code (authenticator or recovery) and mark the session verified if it fits."""
    code = "".join((code or "").split())
    if not code or len(code) > 16:
        return None
    device = match_token(request.user, code)
    if device is not None:
        otp_login(request, device)
        mark_authenticated(request)
    return device


def pending_device(user):
    """The authenticator being set up: created on first visit, confirmed by a first code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)


def enrolment_details(device):
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return {
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#111"),
        "manual_key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
    }


def confirm_enrolment(request, device, code):
    """A first right code switches the authenticator on; returns the new recovery codes."""
    code = "".join((code or "").split())
    if not code or len(code) > 16 or not device.verify_token(code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    mark_authenticated(request)
    return new_recovery_codes(request.user)


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
    for device in devices_for_user(user, confirmed=None):
        device.delete()
