"""Password sign-in, refused for people whose identity provider says they use it alone."""

from django.contrib.auth.backends import ModelBackend

from accounts.models import User

# Set on the request when a password was refused for that reason, for the audit record.
PASSWORD_REFUSAL = "_portcullis_password_refusal"


def passwords_off_for(user):
    """True when the person signs in through a tenant's provider that allows no passwords."""
    return user.identities.filter(
        tenant__identity_provider__enabled=True,
        tenant__identity_provider__allow_passwords=False,
    ).exists()


class PasswordBackend(ModelBackend):
    """Django's password check, except for people linked to an identity provider that does
    not allow passwords: they get the same answer as a wrong password."""

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and not passwords_off_for(user)

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and request is not None and username:
            known = User.objects.filter(username__iexact=username).first()
            if known is not None and passwords_off_for(known):
                setattr(
                    request,
                    PASSWORD_REFUSAL,
                    "password sign-in is off for people of this identity provider",
                )
        return user


class ProviderBackend(ModelBackend):
    """The sessions of people who signed in through their tenant's identity provider
    (accounts.sso). It checks no password: `authenticate()` never signs anyone in."""

    def authenticate(self, request, **credentials):
        return None
