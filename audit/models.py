"""The audit trail: one append-only, keyed, hash-chained record per thing that happened."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.debug import sensitive_variables

from audit import chain, streaming
from core import sealing
from core.arns import RoleArn
from core.scoping import TenantScopedQuerySet, scoped_managers


class AuditQuerySet(TenantScopedQuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit trail is append-only.")

    def delete(self):
        raise TypeError("The audit trail is append-only.")

    def bulk_create(self, objs, *args, **kwargs):
        # Each record is chained to the one before: one insert at a time, in order.
        with transaction.atomic(using=self.db):
            for obj in objs:
                obj.save(using=self.db)
        return objs


class AuditEvent(models.Model):
    """One line of the append-only audit trail. Never holds a secret, a token or a URL."""

    class Action(models.TextChoices):
        CONSOLE_REQUESTED = "console.requested"
        CONSOLE_ISSUED = "console.issued"
        CONSOLE_FAILED = "console.failed"
        CONSOLE_DENIED = "console.denied"
        CLI_REQUESTED = "cli.requested"
        CLI_ISSUED = "cli.issued"
        CLI_FAILED = "cli.failed"
        CLI_DENIED = "cli.denied"
        MAPPING_GRANTED = "mapping.granted"
        MAPPING_CHANGED = "mapping.changed"
        MAPPING_REVOKED = "mapping.revoked"
        SESSIONS_REVOKED = "sessions.revoked"
        SESSIONS_DENIED = "sessions.denied"
        SESSIONS_FAILED = "sessions.failed"
        TOKEN_CREATED = "token.created"
        TOKEN_REVOKED = "token.revoked"
        AUDIT_EXPORTED = "audit.exported"
        MFA_ENROLLED = "mfa.enrolled"
        MFA_REMOVED = "mfa.removed"
        LOGIN_FAILED = "login.failed"
        LOGIN_LOCKED = "login.locked"
        LOGIN_SSO = "login.sso"
        LOGIN_SSO_FAILED = "login.sso_failed"
        USER_DEACTIVATED = "user.deactivated"
        USER_REACTIVATED = "user.reactivated"
        PASSWORD_CHANGED = "user.password_changed"
        PASSWORD_RESET = "user.password_reset"
        MEMBERSHIP_ADDED = "membership.added"
        MEMBERSHIP_CHANGED = "membership.changed"
        MEMBERSHIP_REMOVED = "membership.removed"
        TEAM_CREATED = "team.created"
        TEAM_CHANGED = "team.changed"
        TEAM_DELETED = "team.deleted"
        TEAM_SYNCED = "team.synced"
        PROVIDER_ADDED = "provider.added"
        PROVIDER_CHANGED = "provider.changed"
        PROVIDER_REMOVED = "provider.removed"
        AUDIT_KEYED = "audit.keyed"
        # Access on request.
        REQUEST_CREATED = "request.created"
        REQUEST_APPROVED = "request.approved"
        REQUEST_DENIED = "request.denied"
        REQUEST_CANCELLED = "request.cancelled"
        REQUEST_EXPIRED = "request.expired"
        REQUEST_ESCALATED = "request.escalated"
        REQUEST_ACTIVATED = "request.activated"
        REQUEST_ENDED = "request.ended"
        REQUEST_REFUSED = "request.refused"
        BREAKGLASS_ACTIVATED = "breakglass.activated"
        BREAKGLASS_REVIEWED = "breakglass.reviewed"
        SESSIONS_ENDED = "sessions.ended"
        NOTIFICATION_FAILED = "notification.failed"
        CHANNEL_ADDED = "channel.added"
        CHANNEL_CHANGED = "channel.changed"
        CHANNEL_REMOVED = "channel.removed"
        # The tenant's AWS account directory.
        AWS_ACCOUNTS_FILLED = "aws_accounts.filled"
        # Streaming the trail to SIEMs.
        SINK_ADDED = "sink.added"
        SINK_CHANGED = "sink.changed"
        SINK_REMOVED = "sink.removed"
        SINK_FAILED = "sink.failed"
        SINK_RECOVERED = "sink.recovered"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    tenant = models.ForeignKey(
        "accounts.Tenant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    # Kept when the account is deleted (ids are never given again), so the keyed hash can
    # cover it: the trail's own pages ("recently used roles", a window's sessions) read it.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # Copied, so the record still names the person after their account is deleted.
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    mapping_id = models.BigIntegerField(null=True, blank=True)
    role_arn = models.CharField("role ARN", max_length=2048, blank=True)
    role_session_name = models.CharField(max_length=64, blank=True)
    source_identity = models.CharField(max_length=64, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_id = models.CharField("portal request ID", max_length=64, blank=True)
    aws_request_id = models.CharField("AWS request ID", max_length=128, blank=True)
    assumed_role_arn = models.CharField("assumed-role ARN", max_length=2048, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    # The keyed hash chain (federation/chain.py): set on insert, checked by
    # verify_audit. `key_id` names the AUDIT_CHAIN_KEY the hash was made with ("" for a
    # record from before the chain was keyed: plain SHA-256).
    sequence = models.BigIntegerField(unique=True, editable=False)
    prev_hash = models.CharField("previous hash", max_length=64, editable=False)
    hash = models.CharField("HMAC-SHA256", max_length=64, editable=False)
    key_id = models.CharField("key ID", max_length=16, blank=True, editable=False)
    # Which columns the hash covers (audit.chain.canonical): 1 for records written before it
    # covered the actor's id, CONTENT_VERSION since.
    content_version = models.PositiveSmallIntegerField(
        default=chain.CONTENT_VERSION, editable=False
    )

    objects, rows = scoped_managers(AuditQuerySet)

    class Meta:
        default_manager_name = "rows"
        # The table keeps the name it had when the trail lived in the federation app.
        db_table = "federation_auditevent"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Named as they were made in the federation app, so nothing moves in the database.
            models.Index(
                fields=["tenant", "-created_at", "-id"], name="federation__tenant__15198a_idx"
            ),
            # The audit page's filters by person and by role, newest first.
            models.Index(
                fields=["actor_username", "-created_at", "-id"],
                name="federation__actor_u_223451_idx",
            ),
            models.Index(
                fields=["role_arn", "-created_at", "-id"], name="federation__role_ar_fe297f_idx"
            ),
            # "When were this role's sessions last revoked?" on every grant listing.
            models.Index(
                fields=["tenant", "role_arn", "-created_at"],
                condition=Q(action="sessions.revoked"),
                name="audit_sessions_revoked",
            ),
            # A tenant's sink reads that tenant's records after its cursor, in order.
            models.Index(fields=["tenant", "sequence"], name="audit_tenant_sequence"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_username}"

    def save(self, *args, using=None, relaxed_commit=False, **kwargs):
        """Append the record to the chain. `relaxed_commit`: the transaction this save
        opens or joins commits without waiting for the disk (audit.records.record)."""
        if not self._state.adding:
            raise TypeError("The audit trail is append-only: a record cannot be changed.")
        using = using or router.db_for_write(AuditEvent)
        # No savepoint of its own: record() already runs each insert in a transaction.
        with transaction.atomic(using=using, savepoint=False):
            chain.lock_chain(using, relaxed=relaxed_commit)
            last = chain.head(using)
            self.sequence, self.prev_hash = (
                (last[0] + 1, last[1]) if last else (1, chain.GENESIS_HASH)
            )
            self.key_id = chain.current_key_id()
            self.content_version = chain.CONTENT_VERSION
            self.hash = chain.digest(self)
            super().save(*args, using=using, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit trail is append-only: a record cannot be deleted.")

    @staticmethod
    def outcome_of(action):
        """ "issued", "failed", "denied"…: the last part of an action."""
        return action.rsplit(".", 1)[-1]

    @cached_property
    def _role(self):
        return RoleArn.read(self.role_arn)

    @property
    def role_name(self):
        """The role's name from its ARN ("arn:aws:iam::123456789012:role/path/Admin" → "Admin")."""
        return self._role.name if self._role else ""

    @property
    def role_account(self):
        """The account id in the role's ARN ("" when the record names no role)."""
        return self._role.account_id if self._role else ""

    @property
    def outcome(self):
        return self.outcome_of(self.action)


class AuditSink(models.Model):
    """Where the audit trail is streamed: a SIEM's Splunk HTTP Event Collector, an HTTPS
    endpoint taking NDJSON, or a syslog receiver over TLS.

    A tenant's sink receives that tenant's records; the operator's sink (no tenant) receives
    every record. The background worker sends the records after `cursor` in sequence order
    and moves the cursor only once the receiver has taken them (audit/tasks.py). The token
    is sealed at rest (core.sealing) and never shown again once saved.
    """

    Kind = streaming.Kind

    tenant = models.ForeignKey(
        "accounts.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audit_sinks",
        help_text="Whose records it receives. Empty: the operator's sink, which receives "
        "every tenant's records and those of no tenant.",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    destination = models.CharField(
        max_length=2048,
        help_text="Splunk: the collector's URL (https://splunk.example.com:8088; "
        "/services/collector/event is added when no path is given). HTTPS: the URL the "
        "records are posted to. Syslog: host:port (port 6514 when left out).",
    )
    sealed_token = models.TextField(blank=True, editable=False)
    ca_certificate = models.TextField(
        "CA certificate",
        blank=True,
        help_text="PEM. The receiver's certificate is checked against it instead of the "
        "public authorities: for a SIEM with a certificate from the company's own CA.",
    )
    active = models.BooleanField(default=True)
    # Delivery state, written by the worker only.
    cursor = models.BigIntegerField(
        default=0,
        editable=False,
        help_text="The sequence number of the last record the receiver took.",
    )
    last_success_at = models.DateTimeField("last delivery", null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=200, blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    failures = models.PositiveIntegerField("failed attempts in a row", default=0, editable=False)
    retry_after = models.DateTimeField("next attempt", null=True, blank=True, editable=False)
    # The id of the delivery task waiting to run ("" when none is queued).
    queued_task = models.CharField(max_length=64, blank=True, editable=False)
    # Held by the delivery that is sending: one at a time per sink.
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        default_manager_name = "rows"
        ordering = ["tenant__name", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def allows_private_addresses(self) -> bool:
        """The operator's SIEM is often inside the company network; a tenant's sink must be
        on a public host unless AUDIT_SINK_ALLOW_PRIVATE says otherwise."""
        return self.tenant_id is None or settings.AUDIT_SINK_ALLOW_PRIVATE

    @property
    def has_token(self) -> bool:
        return bool(self.sealed_token)

    @sensitive_variables("token")
    def set_token(self, token: str) -> None:
        self.sealed_token = sealing.seal(token) if token else ""

    def token(self) -> str:
        return sealing.unseal(self.sealed_token) if self.sealed_token else ""

    def waiting(self):
        """The records this sink has still to receive, oldest first."""
        events = AuditEvent.objects.unscoped("a sink's own records, after its cursor").filter(
            sequence__gt=self.cursor
        )
        if self.tenant_id is not None:
            events = events.filter(tenant_id=self.tenant_id)
        return events.order_by("sequence")

    def clean(self):
        errors = {}
        if self.kind and self.destination:
            try:
                streaming.check_destination(
                    self.kind, self.destination, allow_private=self.allows_private_addresses
                )
            except ValidationError as error:
                errors["destination"] = error.messages
        if self.ca_certificate:
            try:
                streaming.check_ca_certificate(self.ca_certificate)
            except ValidationError as error:
                errors["ca_certificate"] = error.messages
        if errors:
            raise ValidationError(errors)
