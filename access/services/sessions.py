"""Ending one person's live AWS sessions of a role when their window ends early, and
pruning the statements that did it once nothing they cover can still be alive.

The portal adds a Deny statement to the role's `PortcullisEndedAccess` inline policy for
sessions whose SourceIdentity is the person's and which were issued before the end. AWS
keeps SourceIdentity through role chaining and into console sessions, so this reaches every
session issued under the window and nobody else's. It needs SourceIdentity on for the
tenant and, as for revoking a role's sessions, a trust policy that demands the tenant's
ExternalId. When the role's inline policies are full, every session of the role is
revoked instead (AWSRevokeOlderSessions) and the records say so.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.models import STATEMENT_KEEP, AccessRequest, SessionCutoff
from accounts.models import User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from federation import aws
from federation.models import RoleMapping
from federation.services import requires_external_id

log = logging.getLogger(__name__)
Action = AuditEvent.Action


def _lock_role(role_arn: str) -> None:
    """Take the role's grants' row locks (inside the caller's transaction): the deny
    statements are read, changed and written back, and IAM has no conditional write, so
    two windows ending at once on one role take turns instead of losing a statement."""
    list(
        RoleMapping.objects.unscoped("every grant of the role, to take turns on it")
        .select_for_update()
        .filter(role_arn=role_arn)
        .values_list("pk", flat=True)
    )


def _sessions_issued(request: AccessRequest) -> bool:
    """Whether any console or CLI session was issued to the person under this window."""
    return (
        AuditEvent.objects.unscoped("the person's sessions under this window")
        .filter(
            tenant=request.tenant_id,
            mapping_id=request.grant_id,
            actor=request.requester_id,
            action__in=[Action.CONSOLE_ISSUED, Action.CLI_ISSUED],
            created_at__gte=request.activated_at,
        )
        .exists()
    )


def end_sessions(
    *, request: AccessRequest, actor: User, meta: RequestMeta, ended_at: datetime
) -> str:
    """Deny everything to the requester's sessions of the role issued before `ended_at`.
    Returns a sentence saying what happened; every outcome is an audit record."""
    if not _sessions_issued(request):
        return "No session was opened under this access, so there was none to end."
    grant, tenant, person = request.grant, request.tenant, request.requester
    planned_end = f"{request.ends_at:%H:%M} UTC"
    audit: dict[str, Any] = {
        "actor": actor,
        "meta": meta,
        "mapping": grant,
        "tenant": tenant,
        "source_identity": person.session_name,
    }
    if not tenant.send_source_identity:
        message = (
            "This tenant does not send SourceIdentity, so AWS cannot tell this person's "
            f"sessions apart: they run until {planned_end} at the latest. Revoke the role's "
            "sessions in the admin to end everyone's."
        )
        record(Action.SESSIONS_FAILED, error_code="NoSourceIdentity", detail=message, **audit)
        return message
    # The policy's clock has whole seconds: round up so no session from this second survives.
    cutoff = (ended_at + timedelta(seconds=1)).replace(microsecond=0)
    whole_role = False
    sid = aws.ended_access_sid(person.session_name, request.pk, cutoff)
    try:
        if not requires_external_id(aws.role_trust_policy(grant.role_arn), tenant.external_id):
            message = (
                "The role's trust policy does not require this tenant's ExternalId, so the "
                f"portal leaves its sessions alone: they run until {planned_end} at the latest."
            )
            record(
                Action.SESSIONS_DENIED, error_code="ExternalIdNotRequired", detail=message, **audit
            )
            return message
        statement = aws.ended_access_statement(
            sid=sid, source_identity=person.session_name, issued_before=cutoff
        )
        with transaction.atomic():
            _lock_role(grant.role_arn)
            try:
                aws.add_ended_access_statement(role_arn=grant.role_arn, statement=statement)
            except aws.PolicyQuotaExceeded:
                aws.revoke_older_sessions(role_arn=grant.role_arn, issued_before=cutoff)
                whole_role = True
    except aws.AwsError as error:
        message = (
            f"AWS refused to end the live sessions ({error.message}); they run until "
            f"{planned_end} at the latest."
        )
        record(
            Action.SESSIONS_FAILED,
            error_code=error.code[:64],
            aws_request_id=error.aws_request_id,
            detail=message,
            **audit,
        )
        return message
    stamp = f"{cutoff:%Y-%m-%dT%H:%M:%SZ}"
    with transaction.atomic():
        SessionCutoff.objects.create(
            tenant=tenant,
            request=request,
            role_arn=grant.role_arn,
            sid="" if whole_role else sid,
            source_identity=person.session_name,
            issued_before=cutoff,
            keep_until=(request.ends_at or cutoff) + STATEMENT_KEEP,
            whole_role=whole_role,
        )
        if whole_role:
            message = (
                "The role's inline policies are full, so every session of this role issued "
                f"before {stamp} was revoked, not only {person.get_username()}'s."
            )
            record(Action.SESSIONS_REVOKED, created_at=cutoff, detail=message, **audit)
        else:
            message = (
                f"{person.get_username()}'s sessions of this role issued before {stamp} are ended."
            )
        record(
            Action.SESSIONS_ENDED,
            created_at=cutoff,
            detail=f"#{request.pk} {message}"[:500],
            **audit,
        )
    return message


def prune_cutoffs(now: datetime | None = None) -> int:
    """Remove the statements nothing alive can need any more (a role's inline policies share
    a 10,240-character quota). Returns how many were pruned; a role AWS will not touch now is
    tried again on the next run."""
    now = now or timezone.now()
    due = SessionCutoff.objects.unscoped("the clock prunes every tenant's statements").filter(
        removed_at__isnull=True, keep_until__lte=now
    )
    by_role: dict[str, list[SessionCutoff]] = defaultdict(list)
    for cutoff in due:
        by_role[cutoff.role_arn].append(cutoff)
    pruned = 0
    for role_arn, cutoffs in by_role.items():
        sids = [cutoff.sid for cutoff in cutoffs if cutoff.sid]
        try:
            if sids:
                with transaction.atomic():
                    _lock_role(role_arn)
                    aws.remove_ended_access_statements(role_arn=role_arn, sids=sids)
        except aws.AwsError as error:
            log.warning(
                "ended-access statements not pruned",
                extra={"role_arn": role_arn, "error_code": error.code},
            )
            continue
        pruned += (
            SessionCutoff.objects.unscoped("the statements just removed")
            .filter(pk__in=[cutoff.pk for cutoff in cutoffs])
            .update(removed_at=now)
        )
    return pruned
