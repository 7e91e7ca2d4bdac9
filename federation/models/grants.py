"""Grants: who may assume which AWS role, how long, in force when, and (on request) who
approves; a person's starred grants."""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import slugify

from accounts.models import (
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    Team,
    Tenant,
    User,
)
from core import humanize
from core.arns import RoleArn
from core.scoping import TenantScopedQuerySet, scoped_managers
from federation import aws

# An on-request grant's window: half an hour to a day. Sessions end with their window and
# AWS issues none shorter than 15 minutes, so a window must leave room for at least one.
MIN_ACTIVATION_SECONDS = 1800


MAX_ACTIVATION_SECONDS = 24 * 3600


# Windows people may be allowed, by name: half an hour to a day.
WINDOW_PRESETS = [1800, 3600, 7200, 14400, 28800, 43200, 86400]


# How long a request may wait before the tenant's admins hear of it (0: never).
ESCALATION_PRESETS = [0, 900, 1800, 3600, 7200, 14400, 28800, 86400]


MAX_APPROVALS = 3


# AWS's limit for an inline session policy passed to AssumeRole.
SESSION_POLICY_MAX_CHARS = 2048


CONSOLE_SERVICES = {
    "/console/home": "Console home",
    "/ec2/home": "EC2",
    "/s3/home": "S3",
    "/iam/home": "IAM",
    "/cloudwatch/home": "CloudWatch",
    "/lambda/home": "Lambda",
    "/rds/home": "RDS",
    "/cloudformation/home": "CloudFormation",
    "/cloudtrail/home": "CloudTrail",
    "/billing/home": "Billing",
}


def validate_role_arn(value):
    try:
        RoleArn.parse(value)
    except ValueError as error:
        raise ValidationError(str(error)) from None


def validate_session_policy(value):
    if not value:
        return
    if len(value) > SESSION_POLICY_MAX_CHARS:
        raise ValidationError(
            f"A session policy is at most {SESSION_POLICY_MAX_CHARS} characters long."
        )
    try:
        document = json.loads(value)
    except ValueError:
        raise ValidationError("The session policy is not valid JSON.") from None
    if not isinstance(document, dict) or "Statement" not in document:
        raise ValidationError("A session policy is a JSON object with a Statement.")


def approval_policy_errors(
    *, tenant_id, activation, approvers, approver_teams, approvals_needed, grantees=()
) -> dict[str, str]:
    """What is wrong with an on-request grant's approval policy (field → message): it needs
    approvers, all of the grant's tenant, and at least as many people as approvals needed
    besides the person it is granted to (who never approves their own request)."""
    if activation != RoleMapping.Activation.ON_REQUEST:
        return {}
    approvers, approver_teams = list(approvers or []), list(approver_teams or [])
    if not approvers and not approver_teams:
        return {"approvers": "A grant used on request needs approvers: people, teams or both."}
    errors = {}
    members = User.objects.filter(memberships__tenant_id=tenant_id)
    outsiders = sorted(u.get_username() for u in approvers if not members.filter(pk=u.pk).exists())
    if outsiders:
        errors["approvers"] = f"Not members of the grant's tenant: {', '.join(outsiders)}."
    if any(team.tenant_id != tenant_id for team in approver_teams):
        errors["approver_teams"] = "Only teams of the grant's tenant can approve."
    people = set(
        members.filter(is_active=True)
        .filter(Q(pk__in=[u.pk for u in approvers]) | Q(teams__in=approver_teams))
        .values_list("pk", flat=True)
    )
    needed = approvals_needed or 1
    for grantee in list(grantees) or [None]:
        others = people - {getattr(grantee, "pk", None)}
        if len(others) < needed:
            besides = f" besides {grantee.get_username()}" if grantee is not None else ""
            errors["approvals_needed"] = (
                f"{needed} approval{'s are' if needed > 1 else ' is'} needed, but only "
                f"{len(others)} {'person' if len(others) == 1 else 'people'}{besides} can "
                "approve."
            )
            break
    return errors


def _in_force(now):
    """What makes a grant in force at `now`: active, inside its validity window, in an
    active tenant. The one definition: current(), not_current() and in_force use it."""
    return (Q(valid_until__isnull=True) | Q(valid_until__gt=now)) & Q(
        active=True, valid_from__lte=now, tenant__active=True
    )


def approved_by(person):
    """Who may approve, as a condition on grants: an on-request grant that names `person`
    (a user, or OuterRef to one) as an approver, by name or through one of their teams.
    The one definition: approvable_by() and approver_people() read it from each side, and
    the grant's tenant must be one of the person's (for_user(), a membership)."""
    return Q(activation=RoleMapping.Activation.ON_REQUEST) & (
        Q(approvers=person) | Q(approver_teams__members=person)
    )


class RoleMappingQuerySet(TenantScopedQuerySet):
    def current(self, now=None):
        """Grants in force now."""
        return self.filter(_in_force(now or timezone.now()))

    def not_current(self, now=None):
        """Grants not in force now: ended, expired, not yet begun, or in a switched-off
        tenant."""
        return self.exclude(_in_force(now or timezone.now()))

    def with_in_force(self, now=None):
        """Each grant with `in_force`: whether it is in force now."""
        return self.annotate(
            in_force=models.ExpressionWrapper(
                _in_force(now or timezone.now()), output_field=models.BooleanField()
            )
        )

    def granted_to(self, user):
        """Grants that name the user, or a team the user is in, in tenants the user belongs to.

        A team grant stops reaching a person the moment they leave the team or the tenant.
        """
        granted = self.for_user(user).filter(Q(user=user) | Q(team__members=user))
        if user.is_superuser:
            # for_user() lets operators see every tenant; using a role still takes membership.
            granted = granted.filter(tenant__memberships__user=user)
        return granted

    def usable_by(self, user, now=None):
        return self.granted_to(user).current(now)

    def approvable_by(self, user):
        """On-request grants `user` may decide requests for (approved_by), in a tenant they
        belong to."""
        approvers = self.for_user(user).filter(approved_by(user))
        # Distinct grants: a person can be an approver twice over (by name and by team).
        return self.unscoped("the grants of the scoped query above").filter(
            pk__in=approvers.values("pk")
        )

    def role_arns_managed_by(self, user):
        """The role ARNs of the grants in the tenants `user` runs, each once."""
        return (
            self.for_user(user, action="manage")
            .order_by("role_arn")
            .values_list("role_arn", flat=True)
            .distinct()
        )


class RoleMapping(models.Model):
    """A grant: this user (or every member of this team) may assume this IAM role.

    A *standing* grant is usable at any time inside its validity; an *on-request* grant
    only inside a window someone else approved (the access app), under its approval policy.
    """

    class Activation(models.TextChoices):
        STANDING = "standing", "Standing"
        ON_REQUEST = "on_request", "On request"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="role_mappings")
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="role_mappings"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="role_mappings"
    )
    role_arn = models.CharField("role ARN", max_length=2048, validators=[validate_role_arn])
    label = models.CharField(max_length=100, help_text="What people see, e.g. 'Prod read-only'.")
    account_alias = models.CharField(max_length=63, blank=True)
    max_session_seconds = models.PositiveIntegerField(
        "longest session",
        default=3600,
        validators=[
            MinValueValidator(MIN_SESSION_SECONDS),
            MaxValueValidator(MAX_SESSION_SECONDS),
        ],
        help_text="The longest session people may choose (15 minutes to 12 hours), within the "
        "tenant's limit and the role's own MaxSessionDuration.",
    )
    destination_path = models.CharField(
        "default destination",
        max_length=200,
        default="/console/home",
        choices=list(CONSOLE_SERVICES.items()),
    )
    region = models.CharField(max_length=32, blank=True, help_text="Default console region.")
    session_policy = models.TextField(
        blank=True,
        validators=[validate_session_policy],
        help_text="Optional JSON policy that narrows the role for these sessions.",
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Access on request: the approval policy of an on-request grant.
    activation = models.CharField(
        max_length=16,
        choices=Activation.choices,
        default=Activation.STANDING,
        help_text="Standing: usable at any time. On request: the person asks each time, "
        "someone else approves, and a window opens.",
    )
    approvers = models.ManyToManyField(
        User, blank=True, related_name="approves_grants", help_text="People who may approve."
    )
    approver_teams = models.ManyToManyField(
        Team,
        blank=True,
        related_name="approves_grants",
        help_text="Every member of these teams may approve.",
    )
    approvals_needed = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_APPROVALS)],
        help_text="Distinct people who must approve (1–3); the requester never counts.",
    )
    max_activation_seconds = models.PositiveIntegerField(
        "longest window",
        default=3600,
        validators=[
            MinValueValidator(MIN_ACTIVATION_SECONDS),
            MaxValueValidator(MAX_ACTIVATION_SECONDS),
        ],
        help_text="The longest access window people may ask for (30 minutes to 24 hours).",
    )
    ticket_required = models.BooleanField(
        default=False, help_text="Requests must name a ticket (change or incident)."
    )
    break_glass = models.BooleanField(
        "break-glass allowed",
        default=False,
        help_text="In an emergency the person may open a window at once with a reason; "
        "approvers are alerted and review it afterwards.",
    )
    escalate_after_seconds = models.PositiveIntegerField(
        "escalate after",
        default=3600,
        help_text="How long a request may wait before the tenant's admins are alerted too.",
    )

    objects, rows = scoped_managers(RoleMappingQuerySet)

    class Meta:
        # One word for it everywhere: a grant (docs/ARCHITECTURE.md).
        verbose_name = "grant"
        default_manager_name = "rows"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, team__isnull=True)
                    | Q(user__isnull=True, team__isnull=False)
                ),
                name="federation_rolemapping_user_xor_team",
                violation_error_message="Grant the role to a user or to a team, not both.",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "active"])]
        ordering = ["tenant__name", "label"]

    def __str__(self):
        return f"{self.label} ({self.role_arn})"

    def account_name_in(self, names):
        """The tenant's name for this role's account, from `names` (account_names()), else
        the grant's own alias ("" when neither names it)."""
        return names.get((self.tenant_id, self.role.account_id)) or self.account_alias

    @cached_property
    def role(self) -> RoleArn:
        """The grant's role ARN, parsed once for each grant read."""
        return RoleArn.parse(self.role_arn)

    @property
    def profile_name(self) -> str:
        """The AWS CLI profile every page and the README name this grant's role by: its
        label as a slug ("Prod read-only" → "prod-read-only"), what people know it as;
        "role-<id>" when the label has no letters or digits."""
        return slugify(self.label) or f"role-{self.pk}"

    @property
    def default_region(self) -> str:
        """The region a session of this grant is for when the person chooses none: the
        grant's, else its partition's own (the AWS CLI needs one, for STS too)."""
        return self.region or aws.region_for(self.role.partition)

    @property
    def on_request(self) -> bool:
        return self.activation == self.Activation.ON_REQUEST

    def approver_people(self, *, besides=None):
        """Everyone who may approve requests for this grant (people and team members),
        among the tenant's active members; `besides` leaves someone out (the requester,
        who never approves their own request)."""
        approves = (
            RoleMapping.objects.unscoped("this grant")
            .filter(pk=self.pk)
            .filter(approved_by(models.OuterRef("pk")))
        )
        people = User.objects.filter(
            models.Exists(approves), is_active=True, memberships__tenant_id=self.tenant_id
        ).order_by("username")
        return people.exclude(pk=besides.pk) if besides is not None else people

    @property
    def grantee(self):
        return self.user or self.team

    @property
    def grantee_name(self) -> str:
        """Whom the grant is for, as records name them: "bob", or "team ops"."""
        return f"team {self.team.name}" if self.team else self.user.get_username()

    def clean(self):
        errors = {}
        if (self.user_id is None) == (self.team_id is None):
            errors["user"] = "Grant the role to a user or to a team, not both."
        if self.tenant_id is not None:
            tenant = self.tenant
            if self.max_session_seconds and self.max_session_seconds > tenant.max_session_seconds:
                errors["max_session_seconds"] = (
                    "At most the tenant's limit of "
                    f"{humanize.duration(tenant.max_session_seconds)}."
                )
            if self.team_id is not None and self.team.tenant_id != self.tenant_id:
                errors["team"] = "The team belongs to another tenant."
            if (
                self.user_id is not None
                and not self.user.memberships.filter(tenant_id=self.tenant_id).exists()
            ):
                errors["user"] = "The user is not a member of this tenant."
        if self.region and self.role_arn:
            try:
                partition = RoleArn.parse(self.role_arn).partition
            except ValueError:
                partition = None
            if partition and self.region not in aws.available_regions(partition):
                errors["region"] = f"Not a region of the {partition} partition."
        if self.valid_until and self.valid_from and self.valid_until <= self.valid_from:
            errors["valid_until"] = "The grant must end after it starts."
        if errors:
            raise ValidationError(errors)


class FavouriteQuerySet(TenantScopedQuerySet):
    tenant_lookup = "grant__tenant"


class Favourite(models.Model):
    """A grant a person starred: the roles page shows it first."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    grant = models.ForeignKey(RoleMapping, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects, rows = scoped_managers(FavouriteQuerySet)

    class Meta:
        default_manager_name = "rows"
        constraints = [
            models.UniqueConstraint(fields=["user", "grant"], name="federation_favourite_unique")
        ]

    def __str__(self):
        return f"{self.user} starred {self.grant}"
