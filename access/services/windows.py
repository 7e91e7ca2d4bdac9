"""Windows: opening one when a request is approved (or the glass broken), closing one whose
sessions are spent, and ending one early.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from access import notifications, selectors
from access.errors import AlreadySettled, NotAllowed
from access.models import AccessRequest
from access.services.clock_steps import finish
from access.services.common import about, move, refuse, tenant_admins, visible
from access.services.sessions import end_sessions
from access.services.telling import headline, summary, tell_requester
from accounts.models import MIN_SESSION_SECONDS, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core import humanize
from federation.models import RoleMapping


def close_spent_window(*, user: User, grant: RoleMapping, now: datetime, meta: RequestMeta) -> None:
    """A window with too little left for a new AWS session (or already over, before the
    clock noticed) gives way to a new request: asking again is how access goes on."""
    spent = (
        AccessRequest.objects.for_user(user)
        .filter(requester=user, grant=grant, state=AccessRequest.State.ACTIVE)
        .filter(ends_at__lt=now + timedelta(seconds=MIN_SESSION_SECONDS))
        .first()
    )
    if spent is not None and move(
        spent,
        expected=AccessRequest.State.ACTIVE,
        state=AccessRequest.State.ENDED,
        ended_at=min(now, spent.ends_at or now),
        end_reason="a new request took over",
    ):
        record(
            AuditEvent.Action.REQUEST_ENDED,
            actor=user,
            meta=meta,
            detail=f"#{spent.pk} a new request took over",
            **about(spent),
        )


def activate(
    request: AccessRequest,
    *,
    actor: User,
    meta: RequestMeta,
    now: datetime,
    break_glass: bool = False,
) -> None:
    """Open the window (inside the caller's transaction); raises AlreadySettled if another
    action moved the request first."""
    ends_at = now + timedelta(seconds=request.seconds)
    if not move(
        request,
        expected=AccessRequest.State.PENDING,
        state=AccessRequest.State.ACTIVE,
        activated_at=now,
        decided_at=now,
        ends_at=ends_at,
    ):
        raise AlreadySettled("This request was settled a moment ago.")
    until = f"window until {ends_at:%Y-%m-%dT%H:%M:%SZ}"
    if break_glass:
        record(
            AuditEvent.Action.BREAKGLASS_ACTIVATED,
            actor=actor,
            meta=meta,
            duration_seconds=request.seconds,
            detail=f"#{request.pk} break-glass, {until}: {request.justification}"[:500],
            **about(request),
        )
    record(
        AuditEvent.Action.REQUEST_ACTIVATED,
        actor=actor,
        meta=meta,
        duration_seconds=request.seconds,
        detail=f"#{request.pk} {until}",
        **about(request),
    )
    if break_glass:
        # The approvers, and the tenant's admins, hear of it at once.
        people = {
            person.pk: person
            for person in [
                *request.grant.approver_people(besides=request.requester),
                *tenant_admins(request).exclude(pk=request.requester_id),
            ]
        }
        notifications.notify(
            tenant=request.tenant,
            event="breakglass.activated",
            people=people.values(),
            subject=f"Break-glass access opened by {headline(request)}",
            text=(
                f"{request.requester.get_username()} opened break-glass access, no approval "
                f"asked. Review it.\n{summary(request)}"
            ),
            link="/approvals/",
            request_id=request.pk,
        )
    else:
        tell_requester(
            request,
            event="request.activated",
            subject=f"Access approved: {request.grant.label}",
            text=lambda zone: (
                f"Your access to {request.grant.label} is open until "
                f"{humanize.clock(ends_at, zone)} ({humanize.duration(request.seconds)})."
            ),
            link="/",
        )


def end_window(
    *, user: User, request_id: int, reason: str = "", meta: RequestMeta
) -> tuple[AccessRequest, str]:
    """End an active window now ("I'm done", or an approver or admin taking it back), then
    end the person's live sessions of the role. Returns the request and what happened to
    the sessions, in a sentence for the person who ended it."""
    what = "end refused"
    request = visible(user, request_id, meta, what)
    if not selectors.in_charge_of(user).filter(pk=request.pk).exists():
        refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed(
                "Only the requester, an approver of this role or a tenant admin can end it."
            ),
        )
    now = timezone.now()
    if request.state == AccessRequest.State.ACTIVE and request.ends_at and request.ends_at <= now:
        # Over already (the clock has not recorded it yet): nothing is left to end early.
        finish(request, now=now)
        return request, f"It had already ended at {humanize.clock(request.ends_at)}."
    reason = (reason or "").strip()[:200] or (
        "ended by the requester" if request.requester_id == user.pk else "ended early"
    )
    with transaction.atomic():
        if not move(
            request,
            expected=AccessRequest.State.ACTIVE,
            state=AccessRequest.State.ENDED,
            ended_at=now,
            ended_by=user,
            end_reason=reason,
        ):
            request.refresh_from_db(fields=["state"])
            refuse(
                user=user,
                meta=meta,
                request=request,
                what=what,
                error=AlreadySettled(f"This access is {request.get_state_display().lower()}."),
            )
        record(
            AuditEvent.Action.REQUEST_ENDED,
            actor=user,
            meta=meta,
            detail=f"#{request.pk} {reason}"[:500],
            **about(request),
        )
    outcome = end_sessions(request=request, actor=user, meta=meta)
    if request.requester_id != user.pk:
        tell_requester(
            request,
            event="request.ended",
            subject=f"Access ended: {request.grant.label}",
            text=f"{user.get_username()} ended your access to {request.grant.label}: {reason}.",
            link="/requests/",
        )
    return request, outcome
