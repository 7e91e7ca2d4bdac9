"""Reading access requests: a person's own, the ones they may decide, their open windows."""

from datetime import datetime

from django.db.models import Q, QuerySet

from access.models import AccessRequest
from accounts.models import User
from federation.models import RoleMapping
from federation.services.activation import Window


def open_window(user: User, grant: RoleMapping, now: datetime) -> Window | None:
    """The person's active window on this grant (issuance's question)."""
    found = (
        AccessRequest.objects.for_user(user)
        .in_window(now)
        .filter(requester=user, grant=grant)
        .values_list("pk", "ends_at")
        .first()
    )
    return Window(request_id=found[0], ends_at=found[1]) if found else None


def my_requests(user: User) -> QuerySet[AccessRequest]:
    return (
        AccessRequest.objects.for_user(user)
        .filter(requester=user)
        .select_related("grant", "tenant")
        .prefetch_related("decisions")
    )


def decidable_by(user: User) -> QuerySet[AccessRequest]:
    """Requests on grants `user` approves, never their own."""
    return (
        AccessRequest.objects.for_user(user)
        .filter(grant__in=RoleMapping.objects.approvable_by(user))
        .exclude(requester=user)
        .select_related("grant", "tenant", "requester")
    )


def waiting_for(user: User) -> QuerySet[AccessRequest]:
    """Pending requests `user` may decide and has not answered yet."""
    return (
        decidable_by(user)
        .filter(state=AccessRequest.State.PENDING)
        .exclude(decisions__approver=user)
    )


def review_queue(user: User) -> QuerySet[AccessRequest]:
    """Break-glass use not yet reviewed, on grants `user` approves."""
    return decidable_by(user).filter(
        break_glass=True, activated_at__isnull=False, reviewed_at__isnull=True
    )


def endable_by(user: User) -> QuerySet[AccessRequest]:
    """Active windows `user` may end: their own, those on grants they approve, and every
    window in the tenants they administer."""
    administered = AccessRequest.objects.for_user(user, action="manage").values("pk")
    return (
        AccessRequest.objects.for_user(user)
        .filter(state=AccessRequest.State.ACTIVE)
        .filter(
            Q(requester=user)
            | Q(grant__in=RoleMapping.objects.approvable_by(user))
            | Q(pk__in=administered)
        )
    )
