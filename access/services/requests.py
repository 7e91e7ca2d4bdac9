"""Filing a request (or breaking the glass), and the requester cancelling it.

Every transition is a conditional UPDATE (`state=<expected>`) and its audit record in one
transaction: of two people acting at once (two approvers, an approval and a cancel, an
approval and the clock's expiry) exactly one moves the request, the other is told it is
already settled. Notifications leave after the commit (access.notifications).
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from access import notifications, selectors
from access.errors import AlreadySettled, NotAllowed
from access.models import JUSTIFICATION_MAX, JUSTIFICATION_MIN, AccessRequest
from access.services.clock_steps import expire_if_due
from access.services.common import about, move, refuse, visible, within_limits
from access.services.telling import headline, summary
from access.services.windows import activate, close_spent_window
from accounts.models import User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core import humanize
from core.errors import InvalidChoice
from federation.models import MIN_ACTIVATION_SECONDS
from federation.services import GrantNotFound

TICKET_MAX = 100


def file_request(
    *,
    user: User,
    grant_id: int,
    seconds: int,
    justification: str,
    ticket: str = "",
    break_glass: bool = False,
    meta: RequestMeta,
) -> AccessRequest:
    """Ask for a window on an on-request grant. Break-glass (where the grant allows it)
    opens the window at once and alerts the approvers; otherwise the approvers are asked.

    Raises GrantNotFound (not the person's, or not on request), InvalidChoice, AlreadySettled
    (an open request exists), each after a `request.refused` record.
    """
    within_limits(user=user, meta=meta, filing=True)
    grant = selectors.requestable_grant(user, grant_id)
    what = "request for access refused"
    if grant is None:
        refuse(user=user, meta=meta, error=GrantNotFound(), grant_id=grant_id, what=what)
    justification = (justification or "").strip()
    ticket = (ticket or "").strip()
    problem = ""
    if not MIN_ACTIVATION_SECONDS <= seconds <= grant.max_activation_seconds:
        problem = (
            f"Choose a window from {humanize.duration(MIN_ACTIVATION_SECONDS)} to "
            f"{humanize.duration(grant.max_activation_seconds)}."
        )
    elif not JUSTIFICATION_MIN <= len(justification) <= JUSTIFICATION_MAX:
        problem = (
            f"Say why you need access: at least {JUSTIFICATION_MIN} characters, "
            f"at most {JUSTIFICATION_MAX}."
        )
    elif grant.ticket_required and not ticket:
        problem = "This role needs a ticket reference (the change or incident it is for)."
    elif len(ticket) > TICKET_MAX or not ticket.isprintable():
        problem = f"A ticket reference is at most {TICKET_MAX} printable characters."
    elif break_glass and not grant.break_glass:
        problem = "This role has no break-glass access: ask for approval instead."
    elif not break_glass and (grant.approver_people(besides=user).count() < grant.approvals_needed):
        problem = (
            "Nobody else can approve this role yet: ask your tenant's admins to name approvers."
        )
    if problem:
        refuse(user=user, meta=meta, error=InvalidChoice(problem), grant_id=grant.pk, what=what)

    now = timezone.now()
    request = AccessRequest(
        tenant=grant.tenant,
        grant=grant,
        requester=user,
        seconds=seconds,
        justification=justification,
        ticket=ticket,
        break_glass=break_glass,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.ACCESS_REQUEST_TTL),
    )
    ticketed = f", ticket {ticket}" if ticket else ""
    detail = f"{humanize.duration(seconds)}{ticketed}: {justification}"
    try:
        with transaction.atomic():
            close_spent_window(user=user, grant=grant, now=now, meta=meta)
            request.save()
            record(
                AuditEvent.Action.REQUEST_CREATED,
                actor=user,
                meta=meta,
                duration_seconds=seconds,
                detail=f"#{request.pk} {detail}"[:500],
                **about(request),
            )
            if break_glass:
                activate(request, actor=user, meta=meta, now=now, break_glass=True)
    except IntegrityError:
        refuse(
            user=user,
            meta=meta,
            error=AlreadySettled(
                "You already have a request for this role waiting or active: see My requests."
            ),
            grant_id=grant.pk,
            what=what,
        )
    if not break_glass:
        notifications.notify(
            tenant=request.tenant,
            event="request.created",
            people=grant.approver_people(besides=user),
            subject=f"Access request from {headline(request)}",
            text=f"{user.get_username()} asks for access.\n{summary(request)}",
            link="/approvals/",
            request_id=request.pk,
        )
    return request


def cancel(*, user: User, request_id: int, meta: RequestMeta) -> AccessRequest:
    """The requester withdraws a request that is still waiting."""
    what = "cancel refused"
    request = visible(user, request_id, meta, what)
    if request.requester_id != user.pk:
        refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed("Only the person who asked can cancel a request."),
        )
    now = timezone.now()
    expire_if_due(request, now)
    with transaction.atomic():
        if not move(
            request,
            expected=AccessRequest.State.PENDING,
            state=AccessRequest.State.CANCELLED,
            decided_at=now,
        ):
            request.refresh_from_db(fields=["state"])
            refuse(
                user=user,
                meta=meta,
                request=request,
                what=what,
                error=AlreadySettled(
                    f"This request is already {request.get_state_display().lower()}."
                ),
            )
        record(
            AuditEvent.Action.REQUEST_CANCELLED,
            actor=user,
            meta=meta,
            detail=f"#{request.pk} cancelled by the requester",
            **about(request),
        )
    return request
