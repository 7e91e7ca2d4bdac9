"""Passkeys (WebAuthn) as a second factor beside the authenticator app, through
django-otp-webauthn: its ceremonies and browser script, with the portal's rules around them.

- The relying party is WEBAUTHN_RP_ID and the allowed origins WEBAUTHN_ORIGINS (settings).
  A browser refuses passkeys on any other host ("invalid domain"), so on one (127.0.0.1
  while the relying party is localhost) the pages say where they work instead of offering
  them (`elsewhere()`).
- Registering one needs a signed-in person who has no second factor yet, or has used theirs
  in this session (the library refuses the rest). A first passkey comes with recovery codes.
- Using one after the password verifies the session like a code does; using one after
  proving the first factor again (accounts.views.reauthenticate) re-authenticates.
"""

import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.urls import path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import views as webauthn_views
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential

from accounts import mfa
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person

# Recovery codes made with a first passkey, shown once on the two-factor page.
NEW_RECOVERY_CODES = "portcullis_new_recovery_codes"
NAME_MAX = 64


class PasskeyHelper(WebAuthnHelper):
    def create_credential(self, user: Any, *args: Any, **kwargs: Any) -> Any:
        device = super().create_credential(user, *args, **kwargs)
        taken = set(passkeys_of(user).values_list("name", flat=True))
        device.name = next(
            f"Passkey {n}" for n in range(1, len(taken) + 2) if f"Passkey {n}" not in taken
        )
        return device


def elsewhere(request: HttpRequest) -> str:
    """ "" when passkeys work at the host this request came to: the host and port of one of
    the allowed origins (WEBAUTHN_ORIGINS, which every ceremony is checked against).
    Otherwise the address where they do work (the first allowed origin), for the page to
    send people to."""
    allowed = [str(origin).rstrip("/") for origin in settings.OTP_WEBAUTHN_ALLOWED_ORIGINS]
    hosts = {urlsplit(origin).netloc.lower() for origin in allowed}
    return "" if not allowed or request.get_host().lower() in hosts else allowed[0]


def passkeys_of(user: Any) -> Any:
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at")


def _one_of(user: Any, passkey_id: Any) -> Any:
    """The person's passkey with that id (a form field: anything may come), or None."""
    passkey_id = str(passkey_id or "")
    if not passkey_id.isdigit() or len(passkey_id) > 18:
        return None
    return passkeys_of(user).filter(pk=int(passkey_id)).first()


def rename(user: Any, passkey_id: Any, name: str) -> bool:
    name = " ".join(name.split())[:NAME_MAX]
    passkey = _one_of(user, passkey_id)
    if not name or passkey is None:
        return False
    passkey.name = name
    passkey.save(update_fields=["name"])
    return True


def remove(user: Any, passkey_id: Any) -> str | None:
    """Remove one of the person's passkeys; returns its name (None when there is none)."""
    passkey = _one_of(user, passkey_id)
    if passkey is None:
        return None
    passkey.delete()
    mfa.forget_lone_recovery_codes(user)
    return str(passkey.name)


class RegisterPasskey(webauthn_views.CompleteCredentialRegistrationView):
    def post(self, *args: Any, **kwargs: Any) -> Any:
        user = self.request.user
        first = not mfa.has_second_factor(user)
        response = super().post(*args, **kwargs)
        if response.status_code == 200:
            if first:
                self.request.session[NEW_RECOVERY_CODES] = mfa.new_recovery_codes(user)
                self.request.session.cycle_key()
            name = passkeys_of(user).last().name
            record_for_person(
                AuditEvent.Action.MFA_ENROLLED,
                actor=user,
                meta=RequestMeta.from_request(self.request),
                detail=f"passkey added: {name}",
            )
        return response


class UsePasskey(webauthn_views.CompleteCredentialAuthenticationView):
    def complete_auth(self, device: Any) -> Any:
        again_at = self.request.session.pop(mfa.FIRST_FACTOR_AGAIN_AT, 0)
        super().complete_auth(device)
        if time.time() - again_at < mfa.SECOND_STEP_SECONDS:
            # The second step of re-authenticating: both factors, just now.
            mfa.mark_authenticated(self.request)
        else:
            self.request.session.cycle_key()


# Under the library's own names, which its browser script is configured with.
urlpatterns = [
    path(
        "registration/begin/",
        webauthn_views.BeginCredentialRegistrationView.as_view(),
        name="credential-registration-begin",
    ),
    path(
        "registration/complete/",
        RegisterPasskey.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        webauthn_views.BeginCredentialAuthenticationView.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        UsePasskey.as_view(),
        name="credential-authentication-complete",
    ),
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="js-i18n-catalog",
    ),
]
