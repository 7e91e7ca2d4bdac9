"""Filing, deciding, cancelling, ending and reviewing access requests.

Every transition is a conditional UPDATE (`state=<expected>`) and its audit record in one
transaction: of two people acting at once (two approvers, an approval and a cancel, an
approval and the clock's expiry) exactly one moves the request, the other is told it is
already settled. Notifications leave after the commit (access.notifications).
"""

from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from access import notifications, selectors
from access.errors import AlreadySettled, NotAllowed, RequestNotFound
from access.models import JUSTIFICATION_MAX, JUSTIFICATION_MIN, AccessRequest, Decision
from access.services.sessions import end_sessions
from accounts.models import MIN_SESSION_SECONDS, Membership, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record, record_for_person
from core import humanize, metrics, ratelimit
from federation.models import MIN_ACTIVATION_SECONDS, RoleMapping
from federation.services import GrantNotFound, InvalidChoice, RateLimited

Action = AuditEvent.Action
State = AccessRequest.State
TICKET_MAX = 100


def _about(request: AccessRequest) -> dict[str, Any]:
    """The audit fields every record about a request carries."""
    return {"mapping": request.grant, "tenant": request.tenant}


def _refuse(
    *,
    user: User,
    meta: RequestMeta,
    error: Exception,
    request: AccessRequest | None = None,
    grant_id: int | None = None,
    what: str,
) -> NoReturn:
    """A `request.refused` record the tenant's admins see, then raise `error`."""
    fields: dict[str, Any] = {
        "error_code": type(error).__name__,
        "detail": f"{what}: {error}"[:500],
    }
    if request is not None:
        record(Action.REQUEST_REFUSED, actor=user, meta=meta, **_about(request), **fields)
    else:
        known = RoleMapping.objects.for_user(user).filter(pk=grant_id).first() if grant_id else None
        record_for_person(
            Action.REQUEST_REFUSED,
            actor=user,
            meta=meta,
            tenants=[known.tenant] if known else None,
            mapping_id=grant_id,
            role_arn=known.role_arn if known else "",
            **fields,
        )
    raise error


def _move(request: AccessRequest, *, expected: str | tuple[str, ...], **changes: Any) -> bool:
    """Change the request only if it is still in the `expected` state; True if it moved."""
    states = (expected,) if isinstance(expected, str) else expected
    moved = (
        AccessRequest.objects.unscoped("the request its caller holds")
        .filter(pk=request.pk, state__in=states)
        .update(**changes)
    )
    if moved:
        for name, value in changes.items():
            setattr(request, name, value)
    return bool(moved)


def _tenant_admins(request: AccessRequest) -> QuerySet[User]:
    return User.objects.filter(
        is_active=True,
        memberships__tenant=request.tenant,
        memberships__role=Membership.Role.ADMIN,
    ).distinct()


def _headline(request: AccessRequest) -> str:
    """ "bob for Production": plain words, so a mail subject stays readable everywhere."""
    return f"{request.requester.get_username()} for {request.grant.label}"


def _summary(request: AccessRequest) -> str:
    lines = [
        f"Role: {request.grant.label} ({request.grant.role_arn})",
        f"Tenant: {request.tenant.name}",
        f"Window: {humanize.duration(request.seconds)}",
        f"Reason: {request.justification}",
    ]
    if request.ticket:
        lines.append(f"Ticket: {request.ticket}")
    return "\n".join(lines)


def _tell_requester(
    request: AccessRequest,
    *,
    event: str,
    subject: notifications.Words,
    text: notifications.Words,
    link: str,
) -> None:
    notifications.notify(
        tenant=request.tenant,
        event=event,
        people=[request.requester],
        subject=subject,
        text=text,
        link=link,
        request_id=request.pk,
    )


# Requests a person may file in an hour: each one e-mails the approvers and the channels.
FILING_LIMIT, FILING_WINDOW = 10, 3600


def _within_limits(*, user: User, meta: RequestMeta, filing: bool = False) -> None:
    """Every action on requests counts against the person's issuance limit; filing also
    against FILING_LIMIT an hour. The first refusal in a window is recorded, the rest of a
    burst is not, so probing cannot flood the trail."""
    limits = [
        ("access", settings.ISSUE_LIMIT_PER_USER, settings.ISSUE_LIMIT_WINDOW_SECONDS),
    ] + ([("filing", FILING_LIMIT, FILING_WINDOW)] if filing else [])
    for name, limit, window in limits:
        allowed, count, retry_after = ratelimit.hit(
            f"{name}:user:{user.pk}", limit=limit, window=window
        )
        if allowed:
            continue
        if count == limit + 1:
            record_for_person(
                Action.REQUEST_REFUSED,
                actor=user,
                meta=meta,
                error_code="RateLimited",
                detail=f"more than {limit} {name} actions in {window} s",
            )
        raise RateLimited(
            f"Too many requests just now. Try again in {retry_after} seconds.", retry_after
        )


# --- filing -------------------------------------------------------------------------------


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
    _within_limits(user=user, meta=meta, filing=True)
    grant = selectors.requestable_grant(user, grant_id)
    what = "request for access refused"
    if grant is None:
        _refuse(user=user, meta=meta, error=GrantNotFound(), grant_id=grant_id, what=what)
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
        _refuse(user=user, meta=meta, error=InvalidChoice(problem), grant_id=grant.pk, what=what)

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
            _close_spent_window(user=user, grant=grant, now=now, meta=meta)
            request.save()
            record(
                Action.REQUEST_CREATED,
                actor=user,
                meta=meta,
                duration_seconds=seconds,
                detail=f"#{request.pk} {detail}"[:500],
                **_about(request),
            )
            if break_glass:
                _activate(request, actor=user, meta=meta, now=now, break_glass=True)
    except IntegrityError:
        _refuse(
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
            subject=f"Access request from {_headline(request)}",
            text=f"{user.get_username()} asks for access.\n{_summary(request)}",
            link="/approvals/",
            request_id=request.pk,
        )
    return request


def _close_spent_window(
    *, user: User, grant: RoleMapping, now: datetime, meta: RequestMeta
) -> None:
    """A window with too little left for a new AWS session (or already over, before the
    clock noticed) gives way to a new request: asking again is how access goes on."""
    spent = (
        AccessRequest.objects.for_user(user)
        .filter(requester=user, grant=grant, state=State.ACTIVE)
        .filter(ends_at__lt=now + timedelta(seconds=MIN_SESSION_SECONDS))
        .first()
    )
    if spent is not None and _move(
        spent,
        expected=State.ACTIVE,
        state=State.ENDED,
        ended_at=min(now, spent.ends_at or now),
        end_reason="a new request took over",
    ):
        record(
            Action.REQUEST_ENDED,
            actor=user,
            meta=meta,
            detail=f"#{spent.pk} a new request took over",
            **_about(spent),
        )


def _activate(
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
    if not _move(
        request,
        expected=State.PENDING,
        state=State.ACTIVE,
        activated_at=now,
        decided_at=now,
        ends_at=ends_at,
    ):
        raise AlreadySettled("This request was settled a moment ago.")
    until = f"window until {ends_at:%Y-%m-%dT%H:%M:%SZ}"
    if break_glass:
        record(
            Action.BREAKGLASS_ACTIVATED,
            actor=actor,
            meta=meta,
            duration_seconds=request.seconds,
            detail=f"#{request.pk} break-glass, {until}: {request.justification}"[:500],
            **_about(request),
        )
    record(
        Action.REQUEST_ACTIVATED,
        actor=actor,
        meta=meta,
        duration_seconds=request.seconds,
        detail=f"#{request.pk} {until}",
        **_about(request),
    )
    if break_glass:
        # The approvers, and the tenant's admins, hear of it at once.
        people = {
            person.pk: person
            for person in [
                *request.grant.approver_people(besides=request.requester),
                *_tenant_admins(request).exclude(pk=request.requester_id),
            ]
        }
        notifications.notify(
            tenant=request.tenant,
            event="breakglass.activated",
            people=people.values(),
            subject=f"Break-glass access opened by {_headline(request)}",
            text=(
                f"{request.requester.get_username()} opened break-glass access, no approval "
                f"asked. Review it.\n{_summary(request)}"
            ),
            link="/approvals/",
            request_id=request.pk,
        )
    else:
        _tell_requester(
            request,
            event="request.activated",
            subject=f"Access approved: {request.grant.label}",
            text=lambda zone: (
                f"Your access to {request.grant.label} is open until "
                f"{humanize.clock(ends_at, zone)} ({humanize.duration(request.seconds)})."
            ),
            link="/",
        )


# --- reading one request, for someone -------------------------------------------------------


def _visible(user: User, request_id: int, meta: RequestMeta, what: str) -> AccessRequest:
    """The request, if it is in one of the person's tenants; else a refusal and a 404.
    Counts against the person's limits first, as every action on a request does."""
    _within_limits(user=user, meta=meta)
    request = (
        AccessRequest.objects.for_user(user)
        .select_related("grant", "tenant", "requester")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        record_for_person(
            Action.REQUEST_REFUSED,
            actor=user,
            meta=meta,
            error_code="RequestNotFound",
            detail=f"{what}: no request #{request_id} in the person's tenants",
        )
        raise RequestNotFound
    return request


def _expire_if_due(request: AccessRequest, now: datetime) -> None:
    """A pending request past its deadline is expired now, whoever looks at it first."""
    if request.state == State.PENDING and request.expires_at <= now:
        expire(request, now=now)


# --- deciding ---------------------------------------------------------------------------------


def decide(
    *, user: User, request_id: int, approve: bool, comment: str = "", meta: RequestMeta
) -> AccessRequest:
    """One approver's decision. Approvals count distinct people; the requester never decides
    their own request, also not as an approver or through a team. The window opens with
    the last approval needed; one denial ends the request."""
    what = "decision refused"
    request = _visible(user, request_id, meta, what)
    comment = (comment or "").strip()[:JUSTIFICATION_MAX]
    if request.requester_id == user.pk:
        _refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed("You cannot decide your own request: someone else approves it."),
        )
    if not selectors.decidable_by(user).filter(pk=request.pk).exists():
        _refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed("You are not an approver of this role."),
        )
    now = timezone.now()
    _expire_if_due(request, now)
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
            if request.state != State.PENDING:
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
                if not _move(request, expected=State.PENDING, state=State.DENIED, decided_at=now):
                    raise AlreadySettled("This request was settled a moment ago.")
                record(
                    Action.REQUEST_DENIED,
                    actor=user,
                    meta=meta,
                    detail=f"#{request.pk} denied{': ' + comment if comment else ''}"[:500],
                    **_about(request),
                )
            else:
                record(
                    Action.REQUEST_APPROVED,
                    actor=user,
                    meta=meta,
                    detail=f"#{request.pk} approved{': ' + comment if comment else ''}"[:500],
                    **_about(request),
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
                    _activate(request, actor=user, meta=meta, now=now)
    except IntegrityError:
        _refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=AlreadySettled("You have already decided this request."),
        )
    except AlreadySettled as error:
        _refuse(user=user, meta=meta, request=request, what=what, error=error)
    if request.state in (State.DENIED, State.ACTIVE):  # settled by this decision
        metrics.DECISION_SECONDS.observe((now - request.created_at).total_seconds())
    if not approve:
        _tell_requester(
            request,
            event="request.denied",
            subject=f"Access denied: {request.grant.label}",
            text=(
                f"{user.get_username()} denied your request for {request.grant.label}."
                + (f"\nComment: {comment}" if comment else "")
            ),
            link="/requests/",
        )
    elif request.state == State.PENDING:
        _tell_requester(
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


# --- the requester cancels; someone ends a window ---------------------------------------------


def cancel(*, user: User, request_id: int, meta: RequestMeta) -> AccessRequest:
    """The requester withdraws a request that is still waiting."""
    what = "cancel refused"
    request = _visible(user, request_id, meta, what)
    if request.requester_id != user.pk:
        _refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed("Only the person who asked can cancel a request."),
        )
    now = timezone.now()
    _expire_if_due(request, now)
    with transaction.atomic():
        if not _move(request, expected=State.PENDING, state=State.CANCELLED, decided_at=now):
            request.refresh_from_db(fields=["state"])
            _refuse(
                user=user,
                meta=meta,
                request=request,
                what=what,
                error=AlreadySettled(
                    f"This request is already {request.get_state_display().lower()}."
                ),
            )
        record(
            Action.REQUEST_CANCELLED,
            actor=user,
            meta=meta,
            detail=f"#{request.pk} cancelled by the requester",
            **_about(request),
        )
    return request


def end_window(
    *, user: User, request_id: int, reason: str = "", meta: RequestMeta
) -> tuple[AccessRequest, str]:
    """End an active window now ("I'm done", or an approver or admin taking it back), then
    end the person's live sessions of the role. Returns the request and what happened to
    the sessions, in a sentence for the person who ended it."""
    what = "end refused"
    request = _visible(user, request_id, meta, what)
    if not selectors.in_charge_of(user).filter(pk=request.pk).exists():
        _refuse(
            user=user,
            meta=meta,
            request=request,
            what=what,
            error=NotAllowed(
                "Only the requester, an approver of this role or a tenant admin can end it."
            ),
        )
    now = timezone.now()
    if request.state == State.ACTIVE and request.ends_at and request.ends_at <= now:
        # Over already (the clock has not recorded it yet): nothing is left to end early.
        finish(request, now=now)
        return request, f"It had already ended at {humanize.clock(request.ends_at)}."
    reason = (reason or "").strip()[:200] or (
        "ended by the requester" if request.requester_id == user.pk else "ended early"
    )
    with transaction.atomic():
        if not _move(
            request,
            expected=State.ACTIVE,
            state=State.ENDED,
            ended_at=now,
            ended_by=user,
            end_reason=reason,
        ):
            request.refresh_from_db(fields=["state"])
            _refuse(
                user=user,
                meta=meta,
                request=request,
                what=what,
                error=AlreadySettled(f"This access is {request.get_state_display().lower()}."),
            )
        record(
            Action.REQUEST_ENDED,
            actor=user,
            meta=meta,
            detail=f"#{request.pk} {reason}"[:500],
            **_about(request),
        )
    outcome = end_sessions(request=request, actor=user, meta=meta)
    if request.requester_id != user.pk:
        _tell_requester(
            request,
            event="request.ended",
            subject=f"Access ended: {request.grant.label}",
            text=f"{user.get_username()} ended your access to {request.grant.label}: {reason}.",
            link="/requests/",
        )
    return request, outcome


# --- break-glass review -----------------------------------------------------------------------


def review(*, user: User, request_id: int, comment: str, meta: RequestMeta) -> AccessRequest:
    """An approver marks a break-glass use as looked at, with a comment."""
    what = "review refused"
    request = _visible(user, request_id, meta, what)
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
                    Action.BREAKGLASS_REVIEWED,
                    actor=user,
                    meta=meta,
                    detail=f"#{request.pk} reviewed: {comment}"[:500],
                    **_about(request),
                )
                request.refresh_from_db()
                return request
        error = AlreadySettled("Someone reviewed it a moment ago.")
    _refuse(user=user, meta=meta, request=request, what=what, error=error)


# --- what the clock does ----------------------------------------------------------------------


def expire(request: AccessRequest, *, now: datetime) -> bool:
    """A pending request nobody decided in time expires; the requester is told."""
    with transaction.atomic():
        if not _move(request, expected=State.PENDING, state=State.EXPIRED, decided_at=now):
            return False
        record(
            Action.REQUEST_EXPIRED,
            actor_username="(clock)",
            detail=(
                f"#{request.pk} no decision within {humanize.duration(settings.ACCESS_REQUEST_TTL)}"
            ),
            **_about(request),
        )
    _tell_requester(
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
        if not _move(
            request,
            expected=State.ACTIVE,
            state=State.ENDED,
            ended_at=request.ends_at,
            end_reason="window over",
        ):
            return False
        record(
            Action.REQUEST_ENDED,
            actor_username="(clock)",
            detail=f"#{request.pk} window over",
            **_about(request),
        )
    return True


def escalate(request: AccessRequest, *, now: datetime) -> bool:
    """A request waiting past its grant's escalation delay goes to the tenant's admins."""
    with transaction.atomic():
        moved = (
            AccessRequest.objects.unscoped("the request being escalated")
            .filter(pk=request.pk, state=State.PENDING, escalated_at__isnull=True)
            .update(escalated_at=now)
        )
        if not moved:
            return False
        record(
            Action.REQUEST_ESCALATED,
            actor_username="(clock)",
            detail=f"#{request.pk} waiting since {request.created_at:%Y-%m-%dT%H:%M:%SZ}: "
            "the tenant's admins are alerted",
            **_about(request),
        )
    notifications.notify(
        tenant=request.tenant,
        event="request.escalated",
        people=_tenant_admins(request).exclude(pk=request.requester_id),
        subject=f"Still waiting: request from {_headline(request)}",
        text=lambda zone: (
            f"Nobody has decided this request since {humanize.clock(request.created_at, zone)}. "
            "As the tenant's admin you can decide it now.\n"
            f"{_summary(request)}"
        ),
        link="/approvals/",
        request_id=request.pk,
    )
    return True


def remind(request: AccessRequest, *, now: datetime) -> bool:
    """Ten minutes before a window ends, the requester is told once."""
    moved = (
        AccessRequest.objects.unscoped("the window ending soon")
        .filter(pk=request.pk, state=State.ACTIVE, reminded_at__isnull=True)
        .update(reminded_at=now)
    )
    if moved and (ends_at := request.ends_at):
        _tell_requester(
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
