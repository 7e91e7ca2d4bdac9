"""A tenant's identity provider: where its people sign in (OpenID Connect), the e-mail domains
that lead there, and each person's identity at it."""

from django.db import models
from django.views.decorators.debug import sensitive_variables

from accounts.models.people import Tenant, User
from core import sealing
from core.scoping import TenantScopedQuerySet, scoped_managers


class IdentityProvider(models.Model):
    """A tenant's OpenID Connect provider (Okta, Entra ID, Google, Keycloak...): its people
    sign in there, and are linked to portal accounts by (tenant, `sub`).

    The client secret is sealed at rest (core.sealing) and never shown again once saved.
    """

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="identity_provider"
    )
    issuer = models.URLField(
        "issuer URL",
        max_length=500,
        help_text="Exactly as the provider's /.well-known/openid-configuration names it, "
        "e.g. https://example.okta.com or https://login.microsoftonline.com/TENANT-ID/v2.0.",
    )
    client_id = models.CharField("client ID", max_length=255)
    sealed_client_secret = models.TextField(editable=False)
    extra_scopes = models.CharField(
        max_length=255,
        blank=True,
        help_text="Asked for besides openid, email and profile (e.g. groups), separated by spaces.",
    )
    groups_claim = models.CharField(
        max_length=100,
        blank=True,
        help_text="The ID token claim that lists the person's groups (e.g. groups). Teams "
        "with an identity provider group take their members from it. Empty: no groups.",
    )
    allow_passwords = models.BooleanField(
        "people may also use a password",
        default=False,
        help_text="Off: the people who sign in here cannot sign in with a portal password.",
    )
    trust_provider_mfa = models.BooleanField(
        "count the provider's second factor",
        default=False,
        help_text="When the ID token's amr shows a second factor (mfa, otp, hwk, swk), the "
        "portal does not ask for its own.",
    )
    create_people = models.BooleanField(
        "create people at their first sign-in",
        default=True,
        help_text="Off: only people already linked to this provider may sign in.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        default_manager_name = "rows"
        ordering = ["tenant__name"]
        constraints = [
            # One client is one tenant's: a token minted for it signs into that tenant only.
            models.UniqueConstraint(
                fields=["issuer", "client_id"],
                name="accounts_identityprovider_unique_client",
                violation_error_message="Another tenant uses this client of this provider.",
            )
        ]

    def __str__(self):
        return f"{self.issuer} ({self.tenant})"

    @property
    def has_client_secret(self):
        return bool(self.sealed_client_secret)

    @sensitive_variables("secret")
    def set_client_secret(self, secret):
        self.sealed_client_secret = sealing.seal(secret)

    def client_secret(self):
        return sealing.unseal(self.sealed_client_secret)

    @property
    def scopes(self):
        extra = [scope for scope in self.extra_scopes.split() if scope]
        return " ".join(dict.fromkeys(["openid", "email", "profile", *extra]))


class SignInDomainQuerySet(TenantScopedQuerySet):
    tenant_lookup = "provider__tenant"


class SignInDomain(models.Model):
    """An e-mail domain whose people sign in through this provider ("Sign in with your
    company account" routes by it). A domain belongs to one tenant.

    A domain a tenant admin names routes nobody until an operator approves it: otherwise
    any tenant could claim another company's domain and send its people to a provider of
    their choosing. Domains an operator names are approved at once.
    """

    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)
    approved = models.BooleanField(
        default=False, help_text="Approved by an operator: sign-ins are routed by it."
    )

    objects, rows = scoped_managers(SignInDomainQuerySet)

    class Meta:
        default_manager_name = "rows"
        verbose_name = "sign-in domain"
        ordering = ["domain"]

    def __str__(self):
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)


class ExternalIdentityQuerySet(TenantScopedQuerySet):
    def live(self):
        """Links that sign people in today: to their tenant's enabled provider (still at
        the same issuer), in an active tenant the person still belongs to."""
        return self.filter(
            tenant__active=True,
            tenant__identity_provider__enabled=True,
            tenant__identity_provider__issuer=models.F("issuer"),
            tenant__memberships__user=models.F("user"),
        )


class ExternalIdentity(models.Model):
    """A person's account at their tenant's identity provider: the issuer and its `sub`,
    the only thing a sign-in there is matched by (never the e-mail address). A tenant that
    moves to another issuer does not bring the old links along: the new issuer's subjects
    are other people until linked."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="identities")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField("subject (sub)", max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    objects, rows = scoped_managers(ExternalIdentityQuerySet)

    class Meta:
        default_manager_name = "rows"
        verbose_name = "identity provider link"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "issuer", "subject"], name="accounts_identity_unique_subject"
            ),
            models.UniqueConstraint(
                fields=["tenant", "issuer", "user"], name="accounts_identity_unique_user"
            ),
        ]

    def __str__(self):
        return f"{self.user} at {self.tenant}"
