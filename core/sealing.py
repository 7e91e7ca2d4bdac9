"""Secrets the portal must read back (an identity provider's client secret), sealed at rest.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under SEALING_KEYS: the first key
seals, every key opens, so a key is rotated by putting a new one first. Without
SEALING_KEYS the key is derived from SECRET_KEY (a new SECRET_KEY then means entering such
secrets again).
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class CannotOpen(Exception):
    """The sealed value was sealed under a key the settings no longer hold."""


def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(f"portcullis.sealing:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    secrets = list(settings.SEALING_KEYS) or [settings.SECRET_KEY]
    return MultiFernet([_fernet(secret) for secret in secrets])


@sensitive_variables("value")
def seal(value: str) -> str:
    return _keys().encrypt(value.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _keys().decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise CannotOpen("sealed under a key the settings no longer hold") from None
