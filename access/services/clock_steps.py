"""What time does to a request, one step at a time for the access clock: a waiting one expires
or is escalated to the tenant's admins, an open window ends, its requester is reminded
before it does.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction

from access import notifications
from access.models import AccessRequest
from access.services.common import about, move, tenant_admins
from access.services.telling import headline, summary, tell_requester
from audit.models import AuditEvent
from audit.records import record
from core import humanize


def expire_if_due(request: AccessRequest, now: datetime) -> None:
    """A pending request past its deadline is expired now, whoever looks at it first."""
    if request.state == AccessRequest.State.PENDING and request.expires_at <= now:
        expire(request, now=now)


def expire(request: AccessRequest, *, now: datetime) -> bool:
    """A pending request nobody decided in time expires; the requester is told."""
    with transaction.atomic():
        if not move(
            request,
            expected=AccessRequest.State.PENDING,
            state=AccessRequest.State.EXPIRED,
            decided_at=now,
        ):
            return False
        record(
            AuditEvent.Action.REQUEST_EXPIRED,
            actor_username="(clock)",
            detail=(
                f"#{request.pk} no decision within {humanize.duration(settings.ACCESS_REQUEST_TTL)}"
            ),
            **about(request),
        )
    tell_requester(
        request,
        event="request.expired",
        subject=f"Request expired: {request.grant.label}",
        text=(
            f"Nobody decided your request for {request.grant.label} in time. "
            "Ask again if you still need it."
        ),
        link="/requests/",
    )
    return True


def finish(request: AccessRequest, *, now: datetime) -> bool:
    """A window whose time is up ends (its sessions end with it: none outlives it)."""
    with transaction.atomic():
        if not move(
            request,
            expected=AccessRequest.State.ACTIVE,
            state=AccessRequest.State.ENDED,
            ended_at=request.ends_at,
            end_reason="window over",
        ):
            return False
        record(
            AuditEvent.Action.REQUEST_ENDED,
            actor_username="(clock)",
            detail=f"#{request.pk} window over",
            **about(request),
        )
    return True


def escalate(request: AccessRequest, *, now: datetime) -> bool:
    """A request waiting past its grant's escalation delay goes to the tenant's admins."""
    with transaction.atomic():
        moved = (
            AccessRequest.objects.unscoped("the request being escalated")
            .filter(pk=request.pk, state=AccessRequest.State.PENDING, escalated_at__isnull=True)
            .update(escalated_at=now)
        )
        if not moved:
            return False
        record(
            AuditEvent.Action.REQUEST_ESCALATED,
            actor_username="(clock)",
            detail=f"#{request.pk} waiting since {request.created_at:%Y-%m-%dT%H:%M:%SZ}: "
            "the tenant's admins are alerted",
            **about(request),
        )
    notifications.notify(
        tenant=request.tenant,
        event="request.escalated",
        people=tenant_admins(request).exclude(pk=request.requester_id),
        subject=f"Still waiting: request from {headline(request)}",
        text=lambda zone: (
            f"Nobody has decided this request since {humanize.clock(request.created_at, zone)}. "
            "As the tenant's admin you can decide it now.\n"
            f"{summary(request)}"
        ),
        link="/approvals/",
        request_id=request.pk,
    )
    return True


def remind(request: AccessRequest, *, now: datetime) -> bool:
    """Ten minutes before a window ends, the requester is told once."""
    moved = (
        AccessRequest.objects.unscoped("the window ending soon")
        .filter(pk=request.pk, state=AccessRequest.State.ACTIVE, reminded_at__isnull=True)
        .update(reminded_at=now)
    )
    if moved and (ends_at := request.ends_at):
        tell_requester(
            request,
            event="request.ending",
            subject=lambda zone: (
                f"Access ends at {humanize.clock(ends_at, zone)}: {request.grant.label}"
            ),
            text=lambda zone: (
                f"Your access to {request.grant.label} ends at {humanize.clock(ends_at, zone)}. "
                "Ask again if you need more time."
            ),
            link="/",
        )
    return bool(moved)
