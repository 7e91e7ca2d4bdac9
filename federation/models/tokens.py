"""Personal API tokens: made for a number of days, stored hashed, revoked on the record."""

import hashlib
import secrets
from datetime import timedelta

from django.db import models
from django.utils import timezone

from accounts.models import (
    User,
)
from core.scoping import TenantScopedQuerySet, scoped_managers, signed_in

TOKEN_PREFIX = "pcl"


def hash_token(secret):
    # API tokens are 32 random bytes: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(TenantScopedQuerySet):
    def for_user(self, user, *, action="view"):
        """A person's own tokens ("manage": also those of the people in the tenants they
        administer who belong to no other tenant); operators see everyone's."""
        if not signed_in(user):
            return self.unscoped("for_user").none()
        if user.is_superuser:
            return self.unscoped("for_user: an operator")
        if action == "manage":
            # A person shared with another tenant is that tenant's too (as on their page).
            people = User.objects.for_user(user, action="manage", solely=True)
            return self.unscoped("for_user").filter(user__in=people)
        return self.unscoped("for_user").filter(user=user)

    def live(self, now=None):
        """Not revoked and not expired."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class ApiToken(models.Model):
    """A personal token for the JSON API (and `portcullis-credentials`). Stored hashed."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects, rows = scoped_managers(ApiTokenQuerySet)

    class Meta:
        verbose_name = "API token"
        default_manager_name = "rows"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({TOKEN_PREFIX}_{self.key_id}_…)"

    @classmethod
    def issue(cls, *, user, name, days):
        """Create a token that works for `days`; returns (token, the plain text shown to its
        owner exactly once)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            key_id=key_id,
            digest=hash_token(secret),
            expires_at=timezone.now() + timedelta(days=days),
        )
        return token, f"{TOKEN_PREFIX}_{key_id}_{secret}"

    @property
    def state(self):
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "active"

    @classmethod
    def authenticate(cls, presented):
        """The live token matching `presented`, or None. Compares digests in constant time."""
        try:
            prefix, key_id, secret = presented.split("_", 2)
        except ValueError:
            return None
        if prefix != TOKEN_PREFIX:
            return None
        token = (
            cls.objects.unscoped("a presented token is looked up among everyone's")
            .live()
            .select_related("user")
            .filter(key_id=key_id, user__is_active=True)
            .first()
        )
        if token is None or not secrets.compare_digest(token.digest, hash_token(secret)):
            return None
        return token
