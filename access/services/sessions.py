"""Ending one person's live AWS sessions of a role when their window ends early, and
pruning the statements that did it once nothing they cover can still be alive.

The portal adds a Deny statement to the role's `PortcullisEndedAccess` inline policy for
sessions whose SourceIdentity is the person's and which were issued before the end. AWS
keeps SourceIdentity through role chaining and into console sessions, so this reaches every
session issued under the window and nobody else's. It needs SourceIdentity on for the
tenant and, as for revoking a role's sessions, a trust policy that demands the tenant's
ExternalId. When the role's inline policies are full, one statement ending every session
of the role issued before the end takes the place of the per-person ones, and the records
say so.
"""

import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from access.models import STATEMENT_KEEP, AccessRequest, SessionCutoff
from accounts.models import User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core import humanize
from federation import aws
from federation.services import administration_role, requires_external_id

log = logging.getLogger(__name__)
Action = AuditEvent.Action
# Seconds to wait for another change to the same role's statements.
ROLE_TURN_WAIT = 30


@contextlib.contextmanager
def _role_turn(role_arn: str) -> Iterator[None]:
    """Take turns on a role's deny statements: they are read, changed and written back, and
    IAM has no conditional write, so two windows ending at once on one role must not both
    write. No database transaction stays open across the AWS calls: PostgreSQL gives a
    session advisory lock; with SQLite (one host) the cache holds a short lease, shared by
    every process when CACHE_URL points at Redis."""
    digest = hashlib.sha256(f"portcullis-ended-access:{role_arn}".encode()).digest()
    if connection.vendor == "postgresql":
        key = int.from_bytes(digest[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    lease, deadline = f"ended-access:{digest.hex()[:32]}", time.monotonic() + ROLE_TURN_WAIT
    while not cache.add(lease, 1, timeout=ROLE_TURN_WAIT * 2):
        if time.monotonic() > deadline:
            raise aws.UpstreamUnavailable(
                "Another change to this role's statements is under way; try again."
            )
        time.sleep(0.1)
    try:
        yield
    finally:
        cache.delete(lease)


def _sessions_asked_for(request: AccessRequest) -> bool:
    """Whether any console or CLI session was asked for by the person under this window.
    `requested` records count: they are written before AWS is called, so a session still
    being made when the window ends is covered too."""
    return (
        AuditEvent.objects.unscoped("the person's sessions under this window")
        .filter(
            tenant=request.tenant_id,
            mapping_id=request.grant_id,
            actor=request.requester_id,
            action__in=[Action.CONSOLE_REQUESTED, Action.CLI_REQUESTED],
            created_at__gte=request.activated_at,
        )
        .exists()
    )


def end_sessions(*, request: AccessRequest, actor: User, meta: RequestMeta) -> str:
    """Deny everything to the requester's sessions of the role issued until now (call it
    once the window's end is committed). Returns a sentence saying what happened; every
    outcome is an audit record."""
    if not _sessions_asked_for(request):
        return "No session was opened under this access, so there was none to end."
    grant, tenant, person = request.grant, request.tenant, request.requester
    planned_end = humanize.clock(request.ends_at) if request.ends_at else "their planned end"
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
    rows = SessionCutoff.objects.unscoped("the role's live statements, in every tenant")
    # The role's account is reached as the grant's tenant reaches it.
    via = administration_role(tenant)
    try:
        with _role_turn(grant.role_arn):
            # After the window's end committed: a session handed out before then was made
            # before this moment (issuance checks the window again after AWS answers).
            # The policy's clock has whole seconds: round up.
            cutoff = (timezone.now() + timedelta(seconds=1)).replace(microsecond=0)
            sid = aws.ended_access_sid(person.session_name, request.pk, cutoff)
            # Known to the portal before it is on the role, so the clock can always prune it.
            row = SessionCutoff.objects.create(
                tenant=tenant,
                request=request,
                role_arn=grant.role_arn,
                sid=sid,
                source_identity=person.session_name,
                issued_before=cutoff,
                keep_until=(request.ends_at or cutoff) + STATEMENT_KEEP,
            )
            try:
                if not requires_external_id(
                    aws.role_trust_policy(grant.role_arn, via=via),
                    tenant.external_id,
                ):
                    rows.filter(pk=row.pk).delete()
                    message = (
                        "The role's trust policy does not require this tenant's ExternalId, so "
                        f"the portal leaves its sessions alone: they run until {planned_end} at "
                        "the latest."
                    )
                    record(
                        Action.SESSIONS_DENIED,
                        error_code="ExternalIdNotRequired",
                        detail=message,
                        **audit,
                    )
                    return message
                _put_statement(row, rows, via=via)
            except aws.AwsError:
                rows.filter(pk=row.pk).delete()
                raise
    except aws.AwsError as error:
        if isinstance(error, aws.AccountUnreachable):
            # Not AWS's refusal: the portal has no way into the role's account.
            message = f"{error.message} The live sessions run until {planned_end} at the latest."
        else:
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
    stamp = humanize.clock(cutoff, date=True, seconds=True)
    with transaction.atomic():
        if row.whole_role:
            message = (
                "The role's inline policies are full, so every session of this role issued "
                f"before {stamp} was ended, not only {person.get_username()}'s."
            )
            record(Action.SESSIONS_REVOKED, created_at=cutoff, detail=message, **audit)
        else:
            message = (
                f"Every session of this role {person.get_username()} opened before {stamp} "
                "is ended."
            )
        record(
            Action.SESSIONS_ENDED,
            created_at=cutoff,
            detail=f"#{request.pk} {message}"[:500],
            **audit,
        )
    return message


def _put_statement(row: SessionCutoff, rows: Any, *, via: aws.AdministrationRole | None) -> None:
    """Write the person's statement; when the role's inline policies are full, one
    statement denying every session of the role issued before the cut-off takes the place
    of all of them (it covers each earlier one), and lives as long as the longest."""
    try:
        aws.add_ended_access_statement(
            role_arn=row.role_arn,
            statement=aws.ended_access_statement(
                sid=row.sid, source_identity=row.source_identity, issued_before=row.issued_before
            ),
            via=via,
        )
        return
    except aws.PolicyQuotaExceeded:
        pass
    live = rows.filter(role_arn=row.role_arn, removed_at__isnull=True).exclude(pk=row.pk)
    keep_until = max([row.keep_until, *live.values_list("keep_until", flat=True)])
    sid = f"EndedEveryoneT{row.issued_before.astimezone(UTC):%Y%m%dT%H%M%S}"
    aws.add_ended_access_statement(
        role_arn=row.role_arn,
        statement=aws.ended_access_statement(
            sid=sid, source_identity="", issued_before=row.issued_before
        ),
        replace_all=True,
        via=via,
    )
    with transaction.atomic():
        live.update(removed_at=timezone.now())
        rows.filter(pk=row.pk).update(sid=sid, whole_role=True, keep_until=keep_until)
    row.sid, row.whole_role, row.keep_until = sid, True, keep_until


def prune_cutoffs(now: datetime | None = None) -> int:
    """Remove the statements nothing alive can need any more (a role's inline policies share
    a 10,240-character quota). Returns how many were pruned; a role AWS will not touch now is
    tried again on the next run."""
    now = now or timezone.now()
    due = (
        SessionCutoff.objects.unscoped("the clock prunes every tenant's statements")
        .filter(removed_at__isnull=True, keep_until__lte=now)
        .select_related("tenant")
    )
    by_role: dict[str, list[SessionCutoff]] = defaultdict(list)
    for cutoff in due:
        by_role[cutoff.role_arn].append(cutoff)
    pruned = 0
    for role_arn, cutoffs in by_role.items():
        sids = [cutoff.sid for cutoff in cutoffs if cutoff.sid]
        try:
            if sids:
                with _role_turn(role_arn):
                    # The role is reached as the tenant that put the statements there.
                    aws.remove_ended_access_statements(
                        role_arn=role_arn,
                        sids=sids,
                        via=administration_role(cutoffs[0].tenant),
                    )
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
