"""What every step of a request shares: reading one for someone (another tenant's, or one they
may not see, is not found), moving it only from the state expected, refusing with a record,
and the rate limits.
"""

from typing import Any, NoReturn

from django.conf import settings
from django.db.models import QuerySet

from access.errors import RequestNotFound
from access.models import AccessRequest
from accounts.models import Membership, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record, record_for_person
from core import ratelimit
from core.errors import RateLimited
from federation.models import RoleMapping


def about(request: AccessRequest) -> dict[str, Any]:
    """The audit fields every record about a request carries."""
    return {"mapping": request.grant, "tenant": request.tenant}


def refuse(
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
        record(AuditEvent.Action.REQUEST_REFUSED, actor=user, meta=meta, **about(request), **fields)
    else:
        known = RoleMapping.objects.for_user(user).filter(pk=grant_id).first() if grant_id else None
        record_for_person(
            AuditEvent.Action.REQUEST_REFUSED,
            actor=user,
            meta=meta,
            tenants=[known.tenant] if known else None,
            mapping_id=grant_id,
            role_arn=known.role_arn if known else "",
            **fields,
        )
    raise error


def move(request: AccessRequest, *, expected: str | tuple[str, ...], **changes: Any) -> bool:
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


def tenant_admins(request: AccessRequest) -> QuerySet[User]:
    return User.objects.filter(
        is_active=True,
        memberships__tenant=request.tenant,
        memberships__role=Membership.Role.ADMIN,
    ).distinct()


# Requests a person may file in an hour: each one e-mails the approvers and the channels.
FILING_LIMIT, FILING_WINDOW = 10, 3600


def within_limits(*, user: User, meta: RequestMeta, filing: bool = False) -> None:
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
                AuditEvent.Action.REQUEST_REFUSED,
                actor=user,
                meta=meta,
                error_code="RateLimited",
                detail=f"more than {limit} {name} actions in {window} s",
            )
        raise RateLimited(
            f"Too many requests just now. Try again in {retry_after} seconds.", retry_after
        )


def visible(user: User, request_id: int, meta: RequestMeta, what: str) -> AccessRequest:
    """The request, if it is in one of the person's tenants; else a refusal and a 404.
    Counts against the person's limits first, as every action on a request does."""
    within_limits(user=user, meta=meta)
    request = (
        AccessRequest.objects.for_user(user)
        .select_related("grant", "tenant", "requester")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        record_for_person(
            AuditEvent.Action.REQUEST_REFUSED,
            actor=user,
            meta=meta,
            error_code="RequestNotFound",
            detail=f"{what}: no request #{request_id} in the person's tenants",
        )
        raise RequestNotFound
    return request
