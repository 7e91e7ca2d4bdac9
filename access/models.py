"""Access on request: requests for on-request grants, the decisions on them, the
statements that end a person's sessions early, and where a tenant's notifications go."""

import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from access.webhooks import validate_webhook_url
from accounts.models import Tenant, User
from core.scoping import TenantScopedQuerySet, scoped_managers
from federation.models import RoleMapping

JUSTIFICATION_MIN = 10
JUSTIFICATION_MAX = 1000


class AccessRequestQuerySet(TenantScopedQuerySet):
    def open(self):
        return self.filter(state__in=AccessRequest.OPEN_STATES)

    def in_window(self, now: datetime | None = None):
        """Active requests whose window has not ended yet."""
        return self.filter(state=AccessRequest.State.ACTIVE, ends_at__gt=now or timezone.now())


class AccessRequest(models.Model):
    """A person asking to use an on-request grant for a while, with a reason.

    pending → active (approved, or break-glass at once) → ended; pending → denied,
    cancelled (by the requester) or expired (nobody decided within ACCESS_REQUEST_TTL).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    OPEN_STATES = (State.PENDING, State.ACTIVE)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="access_requests")
    grant = models.ForeignKey(RoleMapping, on_delete=models.CASCADE, related_name="access_requests")
    requester = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_requests")
    seconds = models.PositiveIntegerField("window (seconds)")
    justification = models.TextField(
        validators=[MinLengthValidator(JUSTIFICATION_MIN), MaxLengthValidator(JUSTIFICATION_MAX)]
    )
    ticket = models.CharField(max_length=100, blank=True)
    break_glass = models.BooleanField("break-glass", default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    # A pending request nobody decides by then expires.
    expires_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    # The planned end of the window; `ended_at` is when it really ended.
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_reason = models.CharField(max_length=200, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # Break-glass use waits in a review queue until an approver has looked at it.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_comment = models.TextField(blank=True)

    objects, rows = scoped_managers(AccessRequestQuerySet)

    class Meta:
        verbose_name = "access request"
        default_manager_name = "rows"
        ordering = ["-created_at", "-id"]
        constraints = [
            # One pending or active request per person and grant at a time.
            models.UniqueConstraint(
                fields=["requester", "grant"],
                condition=Q(state__in=["pending", "active"]),
                name="access_one_open_request_per_grant",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "-created_at"]),
            models.Index(fields=["state", "ends_at"]),
        ]

    def __str__(self):
        return f"#{self.pk} {self.requester} → {self.grant.label} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    def seconds_left(self, now: datetime | None = None) -> int:
        if self.state != self.State.ACTIVE or self.ends_at is None:
            return 0
        return max(0, int((self.ends_at - (now or timezone.now())).total_seconds()))

    @property
    def awaiting_review(self) -> bool:
        return self.break_glass and self.activated_at is not None and self.reviewed_at is None


class DecisionQuerySet(TenantScopedQuerySet):
    tenant_lookup = "request__tenant"


class Decision(models.Model):
    """One approver's answer to one request. Approvals needed count distinct people."""

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approved"
        DENY = "deny", "Denied"

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="access_decisions"
    )
    # Copied, so the decision still names the person after their account is deleted.
    approver_username = models.CharField(max_length=150)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    comment = models.TextField(blank=True, validators=[MaxLengthValidator(JUSTIFICATION_MAX)])
    created_at = models.DateTimeField(default=timezone.now)

    objects, rows = scoped_managers(DecisionQuerySet)

    class Meta:
        default_manager_name = "rows"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"], name="access_one_decision_per_approver"
            )
        ]

    def __str__(self):
        return f"{self.approver_username} {self.get_outcome_display().lower()} #{self.request_id}"


# What nothing issued under a window can outlive: sessions end at the window's planned end
# at the latest, and a console session made from them may last 12 h after a sign-in token
# that itself lives 15 minutes.
STATEMENT_KEEP = timedelta(hours=12, minutes=15)


class SessionCutoff(models.Model):
    """A deny statement put on a role when a window ended early: everything is denied to
    that person's sessions issued before the end. Pruned once nothing it covers can live."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="session_cutoffs")
    request = models.ForeignKey(
        AccessRequest, null=True, on_delete=models.SET_NULL, related_name="cutoffs"
    )
    role_arn = models.CharField("role ARN", max_length=2048)
    sid = models.CharField("statement id", max_length=128, blank=True)
    source_identity = models.CharField(max_length=64, blank=True)
    issued_before = models.DateTimeField()
    keep_until = models.DateTimeField()
    # The role's inline policies were full: every session of the role was revoked instead.
    whole_role = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        verbose_name = "session cut-off"
        default_manager_name = "rows"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["removed_at", "keep_until"])]

    def __str__(self):
        who = "every session" if self.whole_role else self.source_identity
        return f"{who} on {self.role_arn} before {self.issued_before:%Y-%m-%d %H:%M:%S}"


def new_signing_salt() -> str:
    return secrets.token_hex(16)


class NotificationChannel(models.Model):
    """Where a tenant's access notifications go besides e-mail: a Slack incoming webhook, a
    Microsoft Teams workflow webhook, or a JSON webhook signed with HMAC-SHA256."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams workflow webhook"
        WEBHOOK = "webhook", "Signed JSON webhook"

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="notification_channels"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.URLField("URL", max_length=2048)
    active = models.BooleanField(default=True)
    # The signed webhook's key is derived from SECRET_KEY and this salt, never stored:
    # a new salt is a new key.
    signing_salt = models.CharField(max_length=32, default=new_signing_salt, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        default_manager_name = "rows"
        ordering = ["tenant__name", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self):
        # An empty or malformed URL already has the URL field's own error.
        if self.url:
            try:
                validate_webhook_url(self.url)
            except ValidationError as error:
                raise ValidationError({"url": error.messages}) from None
