"""Reading access requests: a person's own, the ones they may decide, their open windows."""

from datetime import datetime

from django.db.models import Q, QuerySet

from access.models import AccessRequest
from accounts.models import User
from core.scoping import tenant_ids
from federation.models import RoleMapping, approved_by
from federation.services import usable_grants
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


def requestable_grant(user: User, grant_id: int) -> RoleMapping | None:
    """The person's usable on-request grant with this id, or None."""
    return (
        usable_grants(user)
        .filter(pk=grant_id, activation=RoleMapping.Activation.ON_REQUEST)
        .first()
    )


def my_requests(user: User) -> QuerySet[AccessRequest]:
    return (
        AccessRequest.objects.for_user(user)
        .filter(requester=user)
        .select_related("grant", "tenant")
        .prefetch_related("decisions")
    )


def _administered(user: User) -> QuerySet[AccessRequest]:
    return AccessRequest.objects.for_user(user, action="manage")


def decidable_by(user: User) -> QuerySet[AccessRequest]:
    """Requests `user` may decide: on grants they approve, and, once a request has been
    escalated, every request of the tenants they administer (the second tier). Never their
    own."""
    escalated = _administered(user).filter(escalated_at__isnull=False).values("pk")
    return (
        AccessRequest.objects.for_user(user)
        .filter(Q(grant__in=RoleMapping.objects.approvable_by(user)) | Q(pk__in=escalated))
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


def reviewable_by(user: User) -> QuerySet[AccessRequest]:
    """Break-glass uses `user` may review: on grants they approve, or in the tenants they
    administer. Never their own."""
    return (
        AccessRequest.objects.for_user(user)
        .filter(break_glass=True, activated_at__isnull=False)
        .filter(
            Q(grant__in=RoleMapping.objects.approvable_by(user))
            | Q(pk__in=_administered(user).values("pk"))
        )
        .exclude(requester=user)
        .select_related("grant", "tenant", "requester")
    )


def review_queue(user: User) -> QuerySet[AccessRequest]:
    """Break-glass use not yet reviewed that `user` may review."""
    return reviewable_by(user).filter(reviewed_at__isnull=True)


def in_charge_of(user: User) -> QuerySet[AccessRequest]:
    """Requests whose window `user` may end: their own, those on grants they approve, and
    every request in the tenants they administer."""
    return AccessRequest.objects.for_user(user).filter(
        Q(requester=user)
        | Q(grant__in=RoleMapping.objects.approvable_by(user))
        | Q(pk__in=_administered(user).values("pk"))
    )


def endable_by(user: User) -> QuerySet[AccessRequest]:
    """Active windows `user` may end."""
    return in_charge_of(user).filter(state=AccessRequest.State.ACTIVE)


def approves_anything(user: User) -> bool:
    """Whether the person runs a tenant or approves an on-request grant in one of theirs
    (the navigation asks on every page): their memberships, which the request has already
    read, and at most one query, the one definition of who may approve."""
    if user.is_tenant_admin:
        return True
    if not tenant_ids(user):
        return False
    return RoleMapping.objects.for_user(user).filter(approved_by(user)).exists()
