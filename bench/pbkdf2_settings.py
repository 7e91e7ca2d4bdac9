"""The portal's settings with Django's default PBKDF2 hasher first, as before Argon2id: for
`make bench` to measure whole sign-ins with each in the same run."""

from portal.settings import *  # noqa: F403
from portal.settings import PASSWORD_HASHERS as PORTAL_HASHERS

PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"
PASSWORD_HASHERS = [PBKDF2, *[name for name in PORTAL_HASHERS if name != PBKDF2]]
