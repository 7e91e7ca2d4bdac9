"""Use cases that change things: issuing console URLs and CLI credentials, granting roles.

Each service scopes what it touches to the acting user, writes the audit record, and does
the AWS calls through `federation.aws`. Views, the API, the admin and the commands call
these and nothing lower.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import MIN_SESSION_SECONDS, Tenant
from audit.models import AuditEvent
from audit.records import (  # noqa: F401 - re-exported for the views and the API
    AuditUnavailable,
    RequestMeta,
    record,
    record_for_person,
)
from federation import aws, ratelimit
from federation.models import CONSOLE_SERVICES, ApiToken, RoleMapping

log = logging.getLogger(__name__)


class GrantNotFound(Exception):
    """No grant with that id is usable by this person now (answered as a 404)."""


class RateLimited(Exception):
    """Too many sessions asked for, by this person or in this tenant (a 429)."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class InvalidChoice(Exception):
    """The person asked for something the grant does not offer (a 400, with the message)."""


@dataclass(frozen=True)
class IssuedSession:
    """What an issuance hands back. `console_url` and `credentials` are secrets."""

    mapping: RoleMapping
    seconds: int
    expires_at: datetime
    assumed_role_arn: str
    capped_by_chaining: bool
    destination: str = ""
    console_url: str = field(default="", repr=False)
    credentials: aws.Credentials | None = field(default=None, repr=False)


def usable_grants(user):
    """The grants a person can use right now, for the self-service page and the API."""
    return (
        RoleMapping.objects.usable_by(user)
        .select_related("tenant", "team")
        .order_by("tenant__name", "role_arn", "label")
    )


def _record_refusal(*, kind, user, mapping_id, meta, **fields):
    """A `<kind>.denied` record: in the grant's tenant if it is one of the person's,
    otherwise in each of the person's tenants (their admins see someone trying ids that are
    not theirs), never naming another tenant's grant."""
    known = RoleMapping.objects.for_user(user).filter(pk=mapping_id).first()
    record_for_person(
        f"{kind}.denied",
        actor=user,
        meta=meta,
        tenants=[known.tenant] if known else None,
        mapping_id=mapping_id,
        role_arn=known.role_arn if known else "",
        **fields,
    )


def _usable_grant(*, user, mapping_id, kind, meta):
    mapping = usable_grants(user).filter(pk=mapping_id).first()
    if mapping is not None:
        return mapping
    _record_refusal(
        kind=kind,
        user=user,
        mapping_id=mapping_id,
        meta=meta,
        detail="no usable grant with this id (unknown, another tenant's, revoked or expired)",
    )
    raise GrantNotFound


def refuse_choice(*, kind, user, mapping_id, meta, problem, fields=()):
    """Refuse a choice the form could not read (a tampered duration, region or destination;
    `fields` names them): counted against the person's rate limit like any issuance, so
    refusals cannot flood the trail, then recorded and raised as InvalidChoice."""
    _within_limits(kind=kind, user=user, mapping_id=mapping_id, meta=meta)
    _refuse_choice(
        kind=kind, user=user, mapping_id=mapping_id, meta=meta, problem=problem, fields=fields
    )


def _refuse_choice(*, kind, user, mapping_id, meta, problem, fields=()):
    """Record a refused choice in the tenant of the grant it was made for; raise."""
    _record_refusal(
        kind=kind,
        user=user,
        mapping_id=mapping_id,
        meta=meta,
        error_code="InvalidChoice",
        detail=f"refused choice{' of ' + ', '.join(fields) if fields else ''}: {problem}",
    )
    raise InvalidChoice(problem)


def session_limit(mapping):
    return min(mapping.max_session_seconds, mapping.tenant.max_session_seconds)


DEFAULT_SESSION_SECONDS = 3600


def _session_seconds(mapping, requested):
    """The length asked for, within the grant; one hour (or the grant's limit, if shorter)
    when nothing was asked for: the longest session is a choice, not a default."""
    limit = session_limit(mapping)
    if requested is None:
        return min(DEFAULT_SESSION_SECONDS, limit)
    return max(MIN_SESSION_SECONDS, min(int(requested), limit))


def _within_limits(*, kind, user, mapping_id, meta, tenant=None):
    """Per person first (before any lookup), then per tenant. The first refusal in a window
    is recorded; the rest of a burst is not, so it cannot flood the trail."""
    window = settings.ISSUE_LIMIT_WINDOW_SECONDS
    if tenant is None:
        key, limit, who = f"user:{user.pk}", settings.ISSUE_LIMIT_PER_USER, "you"
    else:
        key, limit, who = f"tenant:{tenant.pk}", settings.ISSUE_LIMIT_PER_TENANT, "your tenant"
    allowed, count, retry_after = ratelimit.hit(f"issue:{key}", limit=limit, window=window)
    if allowed:
        return
    if count == limit + 1:
        record_for_person(
            f"{kind}.denied",
            actor=user,
            tenants=[tenant] if tenant else None,
            meta=meta,
            mapping_id=mapping_id,
            error_code="RateLimited",
            detail=f"more than {limit} sessions in {window} s for {key.split(':')[0]}",
        )
    raise RateLimited(
        f"Too many sessions asked for by {who} just now. Try again in {retry_after} seconds.",
        retry_after,
    )


@sensitive_variables("assumed", "signin_token", "url")
def _issue(*, kind, user, mapping_id, seconds, meta, console=None):
    _within_limits(kind=kind, user=user, mapping_id=mapping_id, meta=meta)
    mapping = _usable_grant(user=user, mapping_id=mapping_id, kind=kind, meta=meta)
    _within_limits(kind=kind, user=user, mapping_id=mapping_id, meta=meta, tenant=mapping.tenant)
    role = mapping.role
    destination = ""
    if console is not None:
        try:
            destination = _destination(mapping, **console)
        except InvalidChoice as error:
            # Already counted against the rate limits above.
            _refuse_choice(
                kind=kind, user=user, mapping_id=mapping_id, meta=meta, problem=str(error)
            )
    seconds = _session_seconds(mapping, seconds)
    tenant = mapping.tenant
    session_name = user.session_name
    source_identity = session_name if tenant.send_source_identity else ""
    audit = {
        "actor": user,
        "meta": meta,
        "mapping": mapping,
        "role_session_name": session_name,
        "source_identity": source_identity,
    }

    record(f"{kind}.requested", duration_seconds=seconds, **audit)
    capped = False
    try:
        chained = aws.broker_uses_temporary_credentials()
        if chained and seconds > aws.CHAINED_SESSION_LIMIT:
            seconds, capped = aws.CHAINED_SESSION_LIMIT, True
        assumed = aws.assume_role(
            role_arn=mapping.role_arn,
            session_name=session_name,
            duration_seconds=seconds,
            external_id=tenant.external_id,
            source_identity=source_identity,
            tags=(
                {"portal-tenant": tenant.slug, "portal-user": session_name}
                if tenant.send_session_tags
                else None
            ),
            policy=mapping.session_policy,
        )
        url = ""
        if console is not None:
            signin_token = aws.get_signin_token(
                assumed.credentials,
                partition=role.partition,
                session_duration=None if chained else seconds,
            )
            url = aws.login_url(
                partition=role.partition,
                signin_token=signin_token,
                destination=destination,
                issuer=settings.PORTAL_ISSUER_URL,
                sign_out_first=settings.AWS_SIGN_OUT_FIRST,
            )
    except aws.AwsError as error:
        record(
            f"{kind}.failed",
            duration_seconds=seconds,
            error_code=error.code[:64],
            aws_request_id=error.aws_request_id,
            detail=error.message[:500],
            **audit,
        )
        raise

    record(
        f"{kind}.issued",
        duration_seconds=seconds,
        aws_request_id=assumed.aws_request_id,
        assumed_role_arn=assumed.assumed_role_arn,
        **audit,
    )
    return IssuedSession(
        mapping=mapping,
        seconds=seconds,
        expires_at=assumed.credentials.expiration,
        assumed_role_arn=assumed.assumed_role_arn,
        capped_by_chaining=capped,
        destination=destination,
        console_url=url,
        credentials=assumed.credentials,
    )


def _destination(mapping, *, region=None, path=None):
    partition = mapping.role.partition
    region = mapping.region if region is None else region
    path = path or mapping.destination_path
    if path not in CONSOLE_SERVICES:
        raise InvalidChoice("Choose a console destination from the list.")
    if region and region not in aws.available_regions(partition):
        raise InvalidChoice(f"{region} is not a region of this role's partition ({partition}).")
    return aws.console_destination(partition, path=path, region=region)


def issue_console_url(*, user, mapping_id, seconds=None, region=None, path=None, meta):
    """Assume the granted role and return an IssuedSession carrying a console sign-in URL.

    Raises GrantNotFound (after a `console.denied` record, with no AWS call),
    InvalidChoice, AuditUnavailable, or aws.AwsError (after a `console.failed` record).
    """
    return _issue(
        kind="console",
        user=user,
        mapping_id=mapping_id,
        seconds=seconds,
        meta=meta,
        console={"region": region, "path": path},
    )


def issue_cli_credentials(*, user, mapping_id, seconds=None, meta):
    """Assume the granted role and return an IssuedSession carrying temporary credentials."""
    return _issue(kind="cli", user=user, mapping_id=mapping_id, seconds=seconds, meta=meta)


# --- grants -------------------------------------------------------------------------------


def grant_role(
    *,
    actor,
    actor_username="",
    tenant,
    role_arn,
    user=None,
    team=None,
    label="",
    account_alias="",
    max_session_seconds=None,
    destination_path="",
    region="",
    valid_until=None,
    session_policy="",
    meta=None,
):
    """Grant a role to a user or a team; validated, saved and audited in one transaction."""
    mapping = RoleMapping(
        tenant=tenant,
        user=user,
        team=team,
        role_arn=role_arn,
        label=label or aws.RoleArn.parse(role_arn).name,
        account_alias=account_alias,
        destination_path=destination_path or "/console/home",
        max_session_seconds=max_session_seconds or min(3600, tenant.max_session_seconds),
        region=region,
        valid_until=valid_until,
        session_policy=session_policy,
        granted_by=actor if actor and actor.pk else None,
    )
    mapping.full_clean()
    with transaction.atomic():
        mapping.save()
        record(
            AuditEvent.Action.MAPPING_GRANTED,
            actor=actor,
            actor_username=actor_username,
            mapping=mapping,
            meta=meta,
            duration_seconds=mapping.max_session_seconds,
            detail=f"granted to {'team ' + team.name if team else user.get_username()}"[:500],
        )
    return mapping


def grant_roles(*, actor, tenant, role_arn, users=(), teams=(), meta=None, **options):
    """Grant one role to several people and teams at once: all of them or none."""
    if not users and not teams:
        raise ValidationError("Choose at least one person or team.")
    grantees = [{"user": user} for user in users] + [{"team": team} for team in teams]
    with transaction.atomic():
        return [
            grant_role(actor=actor, tenant=tenant, role_arn=role_arn, meta=meta, **to, **options)
            for to in grantees
        ]


def _describe_change(mapping, changed_fields):
    parts = []
    for name in changed_fields:
        value = getattr(mapping, name, "")
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        elif name == "session_policy":
            value = "(changed)" if value else "(removed)"
        parts.append(f"{name}={value if value not in (None, '') else '-'}")
    return "; ".join(parts)


def change_grant(*, actor, mapping, changed_fields, meta=None):
    """Record a change made to a grant (its expiry extended, its limit lowered...).

    Switching a grant off is recorded as a revocation.
    """
    revoked = "active" in changed_fields and not mapping.active
    record(
        AuditEvent.Action.MAPPING_REVOKED if revoked else AuditEvent.Action.MAPPING_CHANGED,
        actor=actor,
        mapping=mapping,
        meta=meta,
        duration_seconds=mapping.max_session_seconds,
        detail=_describe_change(mapping, changed_fields)[:500],
    )


def revoke_grant(*, actor, mapping, actor_username="", meta=None):
    """End a grant now. It stays in the records; issuance refuses it from this moment."""
    with transaction.atomic():
        RoleMapping.objects.filter(pk=mapping.pk).update(active=False, valid_until=timezone.now())
        record(
            AuditEvent.Action.MAPPING_REVOKED,
            actor=actor,
            actor_username=actor_username,
            mapping=mapping,
            meta=meta,
            detail=f"revoked grant to {mapping.grantee}"[:500],
        )
    mapping.refresh_from_db()
    return mapping


def delete_grantees(*, actor, grantees, meta=None):
    """Delete people or teams; their live grants are ended first, so the trail shows it."""
    with transaction.atomic():
        for grantee in grantees:
            for mapping in grantee.role_mappings.filter(active=True):
                revoke_grant(actor=actor, mapping=mapping, meta=meta)
            grantee.delete()


def _requires_external_id(trust_policy, external_id):
    """Whether an Allow statement of the trust policy demands this ExternalId."""
    statements = trust_policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        for operator, conditions in (statement.get("Condition") or {}).items():
            if not operator.startswith("StringEquals"):
                continue
            for key, values in conditions.items():
                values = values if isinstance(values, list) else [values]
                if key.lower() == "sts:externalid" and external_id in values:
                    return True
    return False


def revoke_role_sessions(*, actor, tenant, role_arn, meta=None):
    """End every live session of a role, console sessions included (AWSRevokeOlderSessions).

    Only for a role the tenant has granted and whose trust policy demands the tenant's
    ExternalId: a tenant cannot disturb a role that belongs to another tenant.
    Returns the cut-off time; raises GrantNotFound, RoleRefused or AwsError (audited).
    """
    tenant = Tenant.objects.for_user(actor, manage=True).filter(pk=tenant.pk).first()
    if tenant is None or not RoleMapping.objects.filter(tenant=tenant, role_arn=role_arn).exists():
        raise GrantNotFound
    audit = {"actor": actor, "tenant": tenant, "meta": meta, "role_arn": role_arn}
    # The policy's clock has whole seconds: round up so no session from this second survives.
    issued_before = (timezone.now() + timedelta(seconds=1)).replace(microsecond=0)
    try:
        if not _requires_external_id(aws.role_trust_policy(role_arn), tenant.external_id):
            message = (
                "The role's trust policy does not require this tenant's ExternalId, so the "
                "portal leaves its sessions alone."
            )
            record(AuditEvent.Action.SESSIONS_DENIED, detail=message, **audit)
            raise aws.RoleRefused(message, code="ExternalIdNotRequired")
        aws.revoke_older_sessions(role_arn=role_arn, issued_before=issued_before)
    except aws.AwsError as error:
        if error.code != "ExternalIdNotRequired":
            record(
                AuditEvent.Action.SESSIONS_FAILED,
                error_code=error.code[:64],
                aws_request_id=error.aws_request_id,
                detail=error.message[:500],
                **audit,
            )
        raise
    record(
        AuditEvent.Action.SESSIONS_REVOKED,
        created_at=issued_before,
        detail=f"sessions issued before {issued_before:%Y-%m-%dT%H:%M:%SZ} are denied everything",
        **audit,
    )
    return issued_before


# --- API tokens ---------------------------------------------------------------------------


def create_token(*, user, name, days, meta=None):
    """A new personal API token that works for `days` (1 to API_TOKEN_MAX_DAYS); returns
    (token, plain text shown to its owner once)."""
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise InvalidChoice(f"A token works for 1 to {settings.API_TOKEN_MAX_DAYS} days.")
    with transaction.atomic():
        token, plain = ApiToken.issue(user=user, name=name, days=days)
        record_for_person(
            AuditEvent.Action.TOKEN_CREATED,
            actor=user,
            meta=meta,
            detail=f"API token {token.key_id} ({name}) of {user.get_username()}, "
            f"until {token.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    return token, plain


def revoke_token(*, actor, token, meta=None, reason=""):
    """Revoke a token now (its owner, or an admin of the tenants the owner belongs to)."""
    revoke_tokens(actor=actor, tokens=[token], meta=meta, reason=reason)


def revoke_tokens(*, actor, tokens, meta=None, reason="", tenants=None, actor_username=""):
    """Revoke live tokens, each with its record in the owner's tenants (or `tenants`)."""
    with transaction.atomic():
        for token in tokens:
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
            owner = token.user
            record_for_person(
                AuditEvent.Action.TOKEN_REVOKED,
                actor=actor,
                actor_username=actor_username,
                person=owner,
                tenants=tenants,
                meta=meta,
                detail=f"API token {token.key_id} ({token.name}) of {owner.get_username()}"
                + (f": {reason}" if reason else ""),
            )


# --- roles in AWS -----------------------------------------------------------------------


def broker_trust_policy(*, principal, external_id):
    """A least-privilege trust policy: only the broker, only with the tenant's ExternalId.

    It allows the three actions the portal performs when it assumes the role:
    AssumeRole itself, setting SourceIdentity and tagging the session.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PortcullisBroker",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def create_broker_role(
    *,
    name,
    tenant,
    principal="",
    partition="aws",
    max_session_seconds=43200,
    policy_document="",
    managed_policy_arns=(),
):
    """Create an IAM role the portal can assume for `tenant`; returns its ARN.

    `principal` defaults to the root of the account whose credentials the portal runs on.
    Permissions come from `policy_document` (JSON) and/or `managed_policy_arns`; there is
    no all-permissive default.
    """
    if not policy_document and not managed_policy_arns:
        raise ValueError("Give the role permissions: a policy document or a managed policy ARN.")
    if policy_document:
        try:
            document = json.loads(policy_document)
        except ValueError:
            raise ValueError("The policy document is not valid JSON.") from None
        if not isinstance(document, dict) or "Statement" not in document:
            raise ValueError("The policy document is a JSON object with a Statement.")
    if not principal:
        account_id, _ = aws.caller_identity()
        principal = f"arn:{partition}:iam::{account_id}:root"
    return aws.create_role(
        name=name,
        partition=partition,
        trust_policy=broker_trust_policy(principal=principal, external_id=tenant.external_id),
        max_session_seconds=max_session_seconds,
        inline_policy=policy_document,
        managed_policy_arns=managed_policy_arns,
    )
