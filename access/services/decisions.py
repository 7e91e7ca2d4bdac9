"""Deciding a request (approvals, distinct people, the window's cap) and reviewing a use of
break-glass.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from access import metrics as access_metrics
from access import selectors
from access.errors import AlreadySettled, NotAllowed
from access.models import JUSTIFICATION_MAX, AccessRequest, Decision
from access.services.clock_steps import expire_if_due
from access.services.common import about, move, refuse, visible
from access.services.telling import tell_requester
from access.services.windows import activate
from accounts.models import User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core.errors import InvalidChoice


def decide(
    *, user: User, request_id: int, approve: bool, comment: str = "", meta: RequestMeta
) -> AccessRequest:
    """One approver's decision. Approvals count distinct people; the requester never decides
    their own request, also not as an approver or through a team. The window opens with
    the last approval needed; one denial ends the request."""
    what = "decision refused"
    request = visible(user, request_id, meta, what)
    comment = (comment or "").strip()[:JUSTIFICATION_MAX]
    if request.requester_id == user.pk:
        refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed("You cannot decide your own request: someone else approves it."),
        )
    if not selectors.decidable_by(user).filter(pk=request.pk).exists():
        refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed("You are not an approver of this role."),
        )
    now = timezone.now()
    expire_if_due(request, now)
    try:
        with transaction.atomic():
            # Lock the request: decisions on it are made one after the other.
            list(
                AccessRequest.objects.unscoped("the request being decided")
                .select_for_update()
                .filter(pk=request.pk)
                .values_list("pk")
            )
            request.refresh_from_db(fields=["state"])
            if request.state != AccessRequest.State.PENDING:
                raise AlreadySettled(
                    f"This request is already {request.get_state_display().lower()}."
                )
            Decision.objects.create(
                request=request,
                approver=user,
                approver_username=user.get_username(),
                outcome=Decision.Outcome.APPROVE if approve else Decision.Outcome.DENY,
                comment=comment,
                created_at=now,
            )
            if not approve:
                if not move(
                    request,
                    expected=AccessRequest.State.PENDING,
                    state=AccessRequest.State.DENIED,
                    decided_at=now,
                ):
                    raise AlreadySettled("This request was settled a moment ago.")
                record(
                    AuditEvent.Action.REQUEST_DENIED,
                    actor=user,
                    meta=meta,
                    detail=f"#{request.pk} denied{': ' + comment if comment else ''}"[:500],
                    **about(request),
                )
            else:
                record(
                    AuditEvent.Action.REQUEST_APPROVED,
                    actor=user,
                    meta=meta,
                    detail=f"#{request.pk} approved{': ' + comment if comment else ''}"[:500],
                    **about(request),
                )
                approvals = (
                    Decision.objects.unscoped("the decisions on this request")
                    .filter(request=request, outcome=Decision.Outcome.APPROVE)
                    .exclude(approver=request.requester_id)
                    .values("approver")
                    .distinct()
                    .count()
                )
                if approvals >= request.grant.approvals_needed:
                    activate(request, actor=user, meta=meta, now=now)
    except IntegrityError:
        refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=AlreadySettled("You have already decided this request."),
        )
    except AlreadySettled as error:
        refuse(user=user, meta=meta, request=request, what=what, error=error)
    if request.state in (
        AccessRequest.State.DENIED,
        AccessRequest.State.ACTIVE,
    ):  # settled by this decision
        access_metrics.DECISION_SECONDS.observe((now - request.created_at).total_seconds())
    if not approve:
        tell_requester(
            request,
            event="request.denied",
            subject=f"Access denied: {request.grant.label}",
            text=(
                f"{user.get_username()} denied your request for {request.grant.label}."
                + (f"\nComment: {comment}" if comment else "")
            ),
            link="/requests/",
        )
    elif request.state == AccessRequest.State.PENDING:
        tell_requester(
            request,
            event="request.approved",
            subject=f"One approval for {request.grant.label}",
            text=(
                f"{user.get_username()} approved your request for {request.grant.label}; "
                f"it needs {request.grant.approvals_needed} approvals in all."
            ),
            link="/requests/",
        )
    return request


def review(*, user: User, request_id: int, comment: str, meta: RequestMeta) -> AccessRequest:
    """An approver marks a break-glass use as looked at, with a comment."""
    what = "review refused"
    request = visible(user, request_id, meta, what)
    comment = (comment or "").strip()
    if request.requester_id == user.pk:
        error: Exception = NotAllowed("Someone else reviews your break-glass use.")
    elif not selectors.reviewable_by(user).filter(pk=request.pk).exists():
        error = NotAllowed("Only an approver of this role or a tenant admin reviews it.")
    elif not request.awaiting_review:
        error = AlreadySettled("This request is not waiting for a review.")
    elif not comment:
        error = InvalidChoice("Say what you found: a review needs a comment.")
    elif len(comment) > JUSTIFICATION_MAX:
        error = InvalidChoice(f"A review comment is at most {JUSTIFICATION_MAX} characters.")
    else:
        now = timezone.now()
        with transaction.atomic():
            moved = (
                AccessRequest.objects.unscoped("the request being reviewed")
                .filter(pk=request.pk, reviewed_at__isnull=True)
                .update(
                    reviewed_at=now, reviewed_by=user, review_comment=comment[:JUSTIFICATION_MAX]
                )
            )
            if moved:
                record(
                    AuditEvent.Action.BREAKGLASS_REVIEWED,
                    actor=user,
                    meta=meta,
                    detail=f"#{request.pk} reviewed: {comment}"[:500],
                    **about(request),
                )
                request.refresh_from_db()
                return request
        error = AlreadySettled("Someone reviewed it a moment ago.")
    refuse(user=user, meta=meta, request=request, what=what, error=error)
