"""People, tenants, memberships and teams: who belongs where, with which role, and the limits
and switches each tenant sets."""

import re
import secrets
import unicodedata
import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.functional import cached_property

from core import humanize
from core.scoping import TENANT_ADMIN, TenantScopedQuerySet, scoped_managers, signed_in, tenant_ids
from core.validation import validate_time_zone

# AWS accepts role sessions from 15 minutes to 12 hours.
MIN_SESSION_SECONDS = 900


MAX_SESSION_SECONDS = 43200


session_seconds_validators = [
    MinValueValidator(MIN_SESSION_SECONDS),
    MaxValueValidator(MAX_SESSION_SECONDS),
]


# Session lengths people pick from, by name: 15 minutes to 12 hours.
SESSION_PRESETS = [900, 1800, 3600, 7200, 14400, 28800, 43200]


class UserQuerySet(models.QuerySet):
    def for_user(self, user, *, action="view", solely=False):
        """People who share a tenant with `user` ("manage": a tenant `user` administers).

        `solely`: only people who belong to no other tenant, the ones a tenant admin may
        edit, or whose tokens they may see: someone shared with another tenant is that
        tenant's too. Platform operators are visible to operators only.
        """
        if not signed_in(user):
            return self.none()
        if user.is_superuser:
            return self
        tenants = tenant_ids(user, action=action)
        members = Membership.objects.unscoped("people of these tenants").filter(tenant__in=tenants)
        people = self.filter(pk__in=members.values("user_id"), is_superuser=False)
        if solely:
            elsewhere = Membership.objects.unscoped("people also in other tenants").exclude(
                tenant__in=tenants
            )
            people = people.exclude(pk__in=elsewhere.values("user_id"))
        return people


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, username):
        # Sign-in is case-insensitive: "Bob" and "bob" are the same person.
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


# What AWS allows in a RoleSessionName and a SourceIdentity: 2-64 of [A-Za-z0-9_+=,.@-].
SESSION_NAME_MAX = 64


_SESSION_NAME_FORBIDDEN = re.compile(r"[^\w+=,.@-]", re.ASCII)


def session_name_base(username):
    """A readable ASCII name for AWS from a username: "zoë" → "zoe", "ann marie" →
    "ann-marie". Not unique by itself: see User.assign_session_name()."""
    ascii_name = unicodedata.normalize("NFKD", username).encode("ascii", "ignore").decode()
    return _SESSION_NAME_FORBIDDEN.sub("-", ascii_name)[:SESSION_NAME_MAX].ljust(2, "-")


class User(AbstractUser):
    """A person who signs in to the portal. Usernames are unique regardless of case.

    `session_name` is the person's name in AWS (RoleSessionName and SourceIdentity, so in
    CloudTrail): given once when the account is made, unique in the deployment regardless
    of case, and kept when the username changes, so one name always means one person.
    """

    session_name = models.CharField(
        "AWS session name",
        max_length=SESSION_NAME_MAX,
        editable=False,
        help_text="How CloudTrail names this person's sessions (RoleSessionName and "
        "SourceIdentity). Given once; unique.",
    )

    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="The time zone pages show times in (an IANA name such as Europe/Berlin). "
        "Empty: the browser's.",
    )

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
            models.UniqueConstraint(
                Lower("session_name"),
                name="accounts_user_session_name_ci_unique",
                violation_error_message="Another person already has that AWS session name.",
            ),
        ]

    def save(self, *args, **kwargs):
        if not self.session_name:
            self.assign_session_name()
        super().save(*args, **kwargs)

    def assign_session_name(self):
        """The username made AWS-safe, with -2, -3… when another person has it already
        ("maryéjane" and "maryejane" do not share one)."""
        base = session_name_base(self.get_username())
        candidate, n = base, 1
        while User.objects.filter(session_name__iexact=candidate).exclude(pk=self.pk).exists():
            n += 1
            suffix = f"-{n}"
            candidate = base[: SESSION_NAME_MAX - len(suffix)] + suffix
        self.session_name = candidate

    @cached_property
    def is_tenant_admin(self):
        """Administers at least one tenant (and so may use the admin site for it)."""
        return bool(tenant_ids(self, action="manage"))


def new_external_id():
    """An ExternalId for AssumeRole: random, stable, within AWS's allowed characters."""
    return f"portcullis-{secrets.token_hex(16)}"


class TenantOwnQuerySet(TenantScopedQuerySet):
    # A Tenant is its own tenant: members see the tenants they belong to.
    tenant_lookup = "pk"


class Tenant(models.Model):
    """One organisation served by this deployment, sealed from the others."""

    slug = models.SlugField(unique=True, max_length=50)
    name = models.CharField(max_length=200)
    external_id = models.CharField(
        "external ID",
        max_length=64,
        unique=True,
        default=new_external_id,
        editable=False,
        help_text="Sent as ExternalId with every AssumeRole; the tenant's role trust "
        "policies require it (the confused-deputy guard between tenants).",
    )
    max_session_seconds = models.PositiveIntegerField(
        "longest session",
        default=MAX_SESSION_SECONDS,
        validators=session_seconds_validators,
        help_text="The ceiling for every role session in this tenant (15 minutes to 12 hours).",
    )
    send_source_identity = models.BooleanField(
        "send SourceIdentity",
        default=True,
        help_text="Send the username as SourceIdentity (CloudTrail keeps it through role "
        "chaining). Turn off only for roles whose trust policy lacks sts:SetSourceIdentity.",
    )
    send_session_tags = models.BooleanField(
        default=False,
        help_text="Tag sessions with portal-tenant and portal-user (needs sts:TagSession).",
    )
    require_mfa = models.BooleanField(
        "require a second factor",
        default=False,
        help_text="Every member must set up an authenticator app before using the portal. "
        "Staff always must.",
    )
    administration_role_name = models.CharField(
        "administration role",
        max_length=200,
        blank=True,
        validators=[
            RegexValidator(
                r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$",
                "A role name such as PortcullisAdministration, with its path if it has one "
                "(ops/PortcullisAdministration).",
            )
        ],
        help_text="The name of a role in each of the tenant's AWS accounts (other than the "
        "portal's own) that trusts the portal and demands this tenant's ExternalId: the "
        "portal reads roles and ends sessions there through it. Empty: only roles in the "
        "portal's own account can be checked and have their sessions ended.",
    )
    management_account_id = models.CharField(
        "AWS Organizations management account",
        max_length=12,
        blank=True,
        validators=[RegexValidator(r"^\d{12}$", "An AWS account ID is 12 digits.")],
        help_text="The account ID of the tenant's AWS Organizations management account: the "
        "AWS accounts page can fill its names from there (organizations:ListAccounts, "
        "through the administration role unless it is the portal's own account).",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="The tenant's own time zone (an IANA name such as Europe/Berlin): a grant "
        "ending on a date alone ends at the end of that day here.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects, rows = scoped_managers(TenantOwnQuerySet)

    class Meta:
        default_manager_name = "rows"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The tenant's time zone (UTC when the name is unknown to this machine)."""
        return humanize.zone_named(self.time_zone)


class Membership(models.Model):
    """A user's place in a tenant: member (uses roles) or admin (also manages the tenant)."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = TENANT_ADMIN, "Admin"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        default_manager_name = "rows"
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="accounts_membership_unique")
        ]
        ordering = ["tenant__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.get_role_display()})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if self.role == self.Role.ADMIN:
            # A tenant admin runs their tenant in the admin site, which needs the staff flag.
            User.objects.filter(pk=self.user_id, is_staff=False).update(is_staff=True)


class Team(models.Model):
    """A named group of a tenant's users; a role granted to a team reaches every member."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    provider_group = models.CharField(
        "identity provider group",
        max_length=255,
        blank=True,
        help_text="Managed by the tenant's identity provider: at every sign-in through it, "
        "a person joins this team when the group is in their groups claim and leaves it "
        "when it is not. Leave empty to manage the members here.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        default_manager_name = "rows"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="accounts_team_unique_name")
        ]
        ordering = ["tenant__name", "name"]

    def __str__(self):
        return f"{self.name} ({self.tenant})"
