"""How people are authenticated: a portal password (refused for people whose identity
provider says they use it alone), or a session that came through their tenant's provider."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef

from accounts.models import ExternalIdentity, User

# Set on the request when a password was refused for that reason, for the audit record.
PASSWORD_REFUSAL = "_portcullis_password_refusal"


# A link to a tenant's provider that allows no passwords.
PASSWORDS_OFF = {
    "tenant__identity_provider__enabled": True,
    "tenant__identity_provider__allow_passwords": False,
}


def passwords_off_for(user):
    """True when the person signs in through a tenant's provider that allows no passwords."""
    return user.identities.filter(**PASSWORDS_OFF).exists()


def _session_user(backend, user_id, links):
    """The person a session names, if they may still sign in, and whether they have one of
    `links` (an ExternalIdentity queryset): one query on every request, not two."""
    mine = ExternalIdentity.objects.unscoped("the person's own links, to sign them in")
    user = (
        User._default_manager.filter(pk=user_id)
        .annotate(linked=Exists(links(mine.filter(user=OuterRef("pk")))))
        .first()
    )
    if user is None or not backend.user_can_authenticate(user):
        return None, False
    return user, user.linked


class PasswordBackend(ModelBackend):
    """Django's password check, except for people linked to an identity provider that does
    not allow passwords: they get the same answer as a wrong password (and no other
    backend is asked)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username and request is not None:
            known = User.objects.filter(username__iexact=username).first()
            if known is not None and passwords_off_for(known):
                setattr(
                    request,
                    PASSWORD_REFUSAL,
                    "password sign-in is off for people of this identity provider",
                )
                raise PermissionDenied
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        # A password session ends once the person's provider stops allowing passwords.
        user, passwords_off = _session_user(
            self, user_id, lambda mine: mine.filter(**PASSWORDS_OFF)
        )
        return None if passwords_off else user


class ProviderBackend(ModelBackend):
    """The sessions of people who signed in through their tenant's identity provider
    (accounts.sso). `authenticate()` never signs anyone in: only the callback does. A
    session ends at its next request once its provider is switched off or removed, its
    tenant is switched off, the person's link to the provider goes, or their membership of
    the tenant does."""

    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        user, live = _session_user(self, user_id, lambda mine: mine.live())
        return user if live else None
