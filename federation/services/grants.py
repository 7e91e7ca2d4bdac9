"""Granting roles, changing and ending grants, and revoking a role's live sessions."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Team, Tenant, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core import humanize
from core.arns import RoleArn
from federation import aws
from federation.models import RoleMapping, approval_policy_errors
from federation.services.directory import administration_role
from federation.services.errors import GrantNotFound


@dataclass(frozen=True)
class Granted:
    """What granting made: the grants (one per person or team), and what could not be
    checked about the role (the portal cannot reach its account, or AWS did not answer)."""

    grants: list[RoleMapping]
    warnings: list[str]


def grant_roles(
    *,
    actor: User | None,
    actor_username: str = "",
    tenant: Tenant,
    role_arn: str,
    users: Iterable[User] = (),
    teams: Iterable[Team] = (),
    label: str = "",
    account_alias: str = "",
    max_session_seconds: int | None = None,
    destination_path: str = "",
    region: str = "",
    valid_until: datetime | None = None,
    session_policy: str = "",
    activation: str = RoleMapping.Activation.STANDING,
    approvers: Iterable[User] = (),
    approver_teams: Iterable[Team] = (),
    approvals_needed: int | None = None,
    max_activation_seconds: int | None = None,
    ticket_required: bool = False,
    break_glass: bool = False,
    escalate_after_seconds: int | None = None,
    meta: RequestMeta | None = None,
) -> Granted:
    """Grant one role to people and teams: all of them or none, each grant validated, saved
    and audited in one transaction. Every way of granting (the admin, `manage.py grant`, the
    demo) comes here, so every grant passes the same checks: the grant's own fields, its
    approval policy, and the role as IAM has it (`check_role`: it exists, trusts the portal
    and demands the tenant's ExternalId, and allows sessions as long as the grant's).

    An `on_request` grant carries its approval policy: approvers (people and teams of the
    tenant), approvals needed (1–3 distinct people), the longest window, whether a ticket
    is required and whether break-glass is allowed. Raises ValidationError (by field).
    """
    users, teams = list(users), list(teams)
    if not users and not teams:
        raise ValidationError("Choose at least one person or team.")
    approvers, approver_teams = list(approvers), list(approver_teams)
    policy = {
        name: value
        for name, value in {
            "approvals_needed": approvals_needed,
            "max_activation_seconds": max_activation_seconds,
            "escalate_after_seconds": escalate_after_seconds,
        }.items()
        if value is not None
    }
    grants = [
        RoleMapping(
            tenant=tenant,
            role_arn=role_arn,
            label=label or RoleArn.parse(role_arn).name,
            account_alias=account_alias,
            destination_path=destination_path or "/console/home",
            max_session_seconds=max_session_seconds or min(3600, tenant.max_session_seconds),
            region=region,
            valid_until=valid_until,
            session_policy=session_policy,
            granted_by=actor if actor and actor.pk else None,
            activation=activation,
            ticket_required=ticket_required,
            break_glass=break_glass,
            **grantee,
            **policy,
        )
        for grantee in [{"user": user} for user in users] + [{"team": team} for team in teams]
    ]
    for mapping in grants:
        mapping.full_clean()
    errors = approval_policy_errors(
        tenant_id=tenant.pk,
        activation=activation,
        approvers=approvers,
        approver_teams=approver_teams,
        approvals_needed=grants[0].approvals_needed,
        grantees=users,
    )
    if errors:
        raise ValidationError(errors)
    # Outside the transaction: AWS may take its time, and holds nothing of ours.
    warnings = check_role(
        tenant=tenant, role_arn=role_arn, max_session_seconds=grants[0].max_session_seconds
    )
    with transaction.atomic():
        for mapping in grants:
            mapping.save()
            mapping.approvers.set(approvers)
            mapping.approver_teams.set(approver_teams)
            record(
                AuditEvent.Action.MAPPING_GRANTED,
                actor=actor,
                actor_username=actor_username,
                mapping=mapping,
                meta=meta,
                duration_seconds=mapping.max_session_seconds,
                detail=f"granted to {mapping.grantee_name}{_describe_policy(mapping)}",
            )
    return Granted(grants=grants, warnings=warnings)


def grant_role(
    *, user: User | None = None, team: Team | None = None, **options: Any
) -> RoleMapping:
    """Grant a role to one person or one team (see `grant_roles`, which checks it all)."""
    granted = grant_roles(
        users=[user] if user is not None else [],
        teams=[team] if team is not None else [],
        **options,
    )
    return granted.grants[0]


def _describe_policy(mapping: RoleMapping) -> str:
    if not mapping.on_request:
        return ""
    names = [u.get_username() for u in mapping.approvers.all()] + [
        f"team {t.name}" for t in mapping.approver_teams.all()
    ]
    return (
        f", on request: {mapping.approvals_needed} approval(s) from {', '.join(names)}, "
        f"windows up to {humanize.duration(mapping.max_activation_seconds)}"
        f"{', ticket required' if mapping.ticket_required else ''}"
        f"{', break-glass allowed' if mapping.break_glass else ''}"
    )


def _describe_change(mapping: RoleMapping, changed_fields: Iterable[str]) -> str:
    parts = []
    for name in changed_fields:
        value = getattr(mapping, name, "")
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        elif name == "session_policy":
            value = "(changed)" if value else "(removed)"
        elif name in {"approvers", "approver_teams"}:
            related = getattr(mapping, name).all()
            value = ", ".join(sorted(str(o) for o in related))
        parts.append(f"{name}={value if value not in (None, '') else '-'}")
    return "; ".join(parts)


def change_grant(
    *,
    actor: User,
    mapping: RoleMapping,
    changed_fields: Iterable[str],
    meta: RequestMeta | None = None,
) -> None:
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


def revoke_grant(
    *,
    actor: User | None,
    mapping: RoleMapping,
    actor_username: str = "",
    meta: RequestMeta | None = None,
) -> RoleMapping:
    """End a grant now. It stays in the records; issuance refuses it from this moment."""
    with transaction.atomic():
        RoleMapping.objects.unscoped("the grant its caller holds").filter(pk=mapping.pk).update(
            active=False, valid_until=timezone.now()
        )
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


def delete_grantees(
    *, actor: User, grantees: Iterable[User | Team], meta: RequestMeta | None = None
) -> None:
    """Delete people or teams; their live grants are ended first, so the trail shows it."""
    with transaction.atomic():
        for grantee in grantees:
            for mapping in grantee.role_mappings.filter(active=True):
                revoke_grant(actor=actor, mapping=mapping, meta=meta)
            grantee.delete()


def requires_external_id(trust_policy: dict[str, Any], external_id: str) -> bool:
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


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    found = principal.get("AWS", []) if isinstance(principal, dict) else []
    return [found] if isinstance(found, str) else [str(p) for p in found]


def trusts_broker(trust_policy: dict[str, Any], *, account_id: str, broker_arn: str) -> bool:
    """Whether an Allow statement lets the broker assume the role: its account (root or
    bare id), its own role, or anyone."""
    partition = broker_arn.split(":")[1] if broker_arn.count(":") >= 5 else "aws"
    accepted = {"*", account_id, f"arn:{partition}:iam::{account_id}:root", broker_arn}
    if ":assumed-role/" in broker_arn:
        # arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION → the role NAME in any path.
        role_name = broker_arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        accepted |= {
            p
            for p in _all_principals(trust_policy)
            if f":iam::{account_id}:role/" in p and p.rsplit("/", 1)[-1] == role_name
        }
    statements = trust_policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        allows = statement.get("Effect") == "Allow" and any(
            a in {"sts:AssumeRole", "sts:*", "*"} for a in actions
        )
        if allows and accepted.intersection(_principals(statement)):
            return True
    return False


def _all_principals(trust_policy: dict[str, Any]) -> list[str]:
    statements = trust_policy.get("Statement", [])
    found: list[str] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        found += _principals(statement)
    return found


def check_role(*, tenant: Tenant, role_arn: str, max_session_seconds: int) -> list[str]:
    """Before a grant is saved: the role exists (in the account its ARN names, read there
    through the tenant's administration role unless it is the portal's own), trusts the
    broker, demands the tenant's ExternalId and allows sessions as long as the grant's.
    Raises ValidationError (by field) for what would make every issuance fail; returns
    warnings for what could not be checked (the portal cannot reach the account or may not
    read IAM, or AWS did not answer)."""
    role = RoleArn.parse(role_arn)
    try:
        account_id, broker_arn = aws.caller_identity(role.partition)
    except aws.AwsError as error:
        # Unknown is not trusted: without its own identity the portal cannot tell which
        # account it would read the role in, nor whether the role lets it in.
        return [
            "The role was not checked: AWS did not say who the portal is "
            f"({error.code or 'no answer'})."
        ]
    try:
        facts = aws.describe_role(role_arn, via=administration_role(tenant))
    except aws.RoleRefused as error:
        if error.code == "NoSuchEntity":
            raise ValidationError({"role_arn": "AWS has no role with this ARN."}) from None
        return [f"The role was not checked: {error.message}"]
    except aws.AwsError as error:
        return [f"The role was not checked: AWS did not answer ({error.code or 'no answer'})."]
    errors: dict[str, str] = {}
    if facts.arn != role_arn:
        errors["role_arn"] = f"IAM knows this role as {facts.arn}: use that ARN."
    elif not requires_external_id(facts.trust_policy, tenant.external_id):
        errors["role_arn"] = (
            "The role's trust policy does not demand this tenant's ExternalId: add the "
            f'condition "StringEquals": {{"sts:ExternalId": "{tenant.external_id}"}}.'
        )
    elif not trusts_broker(facts.trust_policy, account_id=account_id, broker_arn=broker_arn):
        errors["role_arn"] = (
            f"The role's trust policy does not let the portal ({broker_arn}) assume it."
        )
    if max_session_seconds > facts.max_session_seconds:
        errors["max_session_seconds"] = (
            f"The role allows sessions of at most {humanize.duration(facts.max_session_seconds)} "
            "(its MaxSessionDuration): choose that or less, or raise it in IAM."
        )
    if errors:
        raise ValidationError(errors)
    return []


def revoke_role_sessions(
    *, actor: User, tenant: Tenant, role_arn: str, meta: RequestMeta | None = None
) -> datetime:
    """End every live session of a role, console sessions included (AWSRevokeOlderSessions).

    Only for a role the tenant has granted and whose trust policy demands the tenant's
    ExternalId: a tenant cannot disturb a role that belongs to another tenant.
    Returns the cut-off time; raises GrantNotFound, RoleRefused or AwsError (audited).
    """
    managed = Tenant.objects.for_user(actor, action="manage").filter(pk=tenant.pk).first()
    granted = RoleMapping.objects.for_user(actor, action="manage").filter(
        tenant=managed, role_arn=role_arn
    )
    if managed is None or not granted.exists():
        raise GrantNotFound
    tenant = managed
    audit: dict[str, Any] = {"actor": actor, "tenant": tenant, "meta": meta, "role_arn": role_arn}
    via = administration_role(tenant)
    # The policy's clock has whole seconds: round up so no session from this second survives.
    issued_before = (timezone.now() + timedelta(seconds=1)).replace(microsecond=0)
    try:
        if not requires_external_id(aws.role_trust_policy(role_arn, via=via), tenant.external_id):
            message = (
                "The role's trust policy does not require this tenant's ExternalId, so the "
                "portal leaves its sessions alone."
            )
            record(AuditEvent.Action.SESSIONS_DENIED, detail=message, **audit)
            raise aws.RoleRefused(message, code="ExternalIdNotRequired")
        aws.revoke_older_sessions(role_arn=role_arn, issued_before=issued_before, via=via)
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
