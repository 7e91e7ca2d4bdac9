"""The one scoping door: which tenants a person may see or run, and the one queryset method
every tenant-owned model is read through. It fails closed.

A person belongs to tenants through memberships (`user.memberships`, each with a
`tenant_id` and a `role`); operators (superusers) see every tenant. Each tenant-owned
model's queryset declares `tenant_lookup`, the path from a row to its tenant, and is read
with `for_user(user)` (its tenants) or `for_user(user, action="manage")` (the tenants it
administers). Someone signed out, or switched off, sees nothing.

While a request is served (ScopingMiddleware), reading a tenant-owned model through its
`objects` manager without `for_user()` raises UnscopedQuery instead of quietly reading
every tenant's rows. Code that must read across tenants says so, and why, with
`unscoped("reason")`. Rows reached from an object already in hand (`person.memberships`)
and Django's own machinery (`_default_manager`: the admin's base queryset, which the admin
then scopes; unique checks; deletion) are not guarded.
"""

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any, Self, cast

from django.db import models
from django.http import HttpRequest, HttpResponse

# The membership role that runs a tenant.
TENANT_ADMIN = "admin"
ACTIONS = ("view", "manage")

_strict = contextvars.ContextVar("portcullis_strict_scoping", default=False)
# While a request is served: {user id: [(tenant id, role), ...]}, each person's memberships
# read once, since a page asks through several doors (its grants, the navigation's links,
# account names). Any membership saved or deleted meanwhile empties it (forget_memberships).
_memberships: contextvars.ContextVar[dict[int, list[tuple[int, str]]] | None] = (
    contextvars.ContextVar("portcullis_memberships", default=None)
)


class UnscopedQuery(Exception):
    """A tenant-owned model was read in a request without for_user() or unscoped()."""


def signed_in(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def tenant_ids(user: Any, *, action: str = "view") -> list[int]:
    """The ids of the tenants `user` belongs to ("view") or administers ("manage")."""
    if action not in ACTIONS:
        raise ValueError(f"action is one of {ACTIONS}, not {action!r}")
    return [
        tenant
        for tenant, role in _membership_rows(user)
        if action == "view" or role == TENANT_ADMIN
    ]


def _membership_rows(user: Any) -> list[tuple[int, str]]:
    """(tenant id, role) of each of `user`'s memberships: from the request's memo when one is
    being served, else from the database."""
    memo = _memberships.get()
    rows = None if memo is None else memo.get(user.pk)
    if rows is None:
        rows = list(user.memberships.order_by().values_list("tenant_id", "role"))
        if memo is not None:
            memo[user.pk] = rows
    return rows


def forget_memberships() -> None:
    """A membership changed: the request reads everyone's afresh from here on."""
    memo = _memberships.get()
    if memo is not None:
        memo.clear()


@contextlib.contextmanager
def strict_scoping() -> Iterator[None]:
    """Within this block, an unscoped read of a tenant-owned model raises UnscopedQuery."""
    token = _strict.set(True)
    try:
        yield
    finally:
        _strict.reset(token)


class ScopingMiddleware:
    """Serve every request with strict scoping, reading each person's memberships once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        memo = _memberships.set({})
        try:
            with strict_scoping():
                return self.get_response(request)
        finally:
            _memberships.reset(memo)


class TenantScopedQuerySet(models.QuerySet):
    """A queryset of rows that belong to a tenant, through `tenant_lookup`."""

    tenant_lookup = "tenant"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Why reading these rows is allowed: "for_user", or the reason given to unscoped().
        self._scoped_because: str | None = None

    def _clone(self) -> Self:
        clone = super()._clone()  # type: ignore[misc]  # private API the stubs leave out
        clone._scoped_because = self._scoped_because
        return clone

    def unscoped(self, reason: str) -> Self:
        """These rows, read across tenants on purpose: `reason` says why."""
        clone = self._chain()  # type: ignore[attr-defined]  # as _clone()
        clone._scoped_because = reason
        return clone

    def for_user(self, user: Any, *, action: str = "view") -> Self:
        """The rows in the tenants `user` belongs to ("view") or administers ("manage")."""
        if not signed_in(user):
            return self.unscoped("for_user").none()
        if user.is_superuser:
            return self.unscoped("for_user: an operator")
        # The tenant ids are looked up first, so the database plans the real query with the
        # actual values: on a table of millions of rows (the audit trail) that is the
        # difference between walking an index newest-first and sorting a whole tenant.
        ids = tenant_ids(user, action=action)
        return self.unscoped("for_user").filter(**{f"{self.tenant_lookup}__in": ids})

    # --- the guard: every way a queryset reaches the database -----------------------------

    def _check_scoped(self) -> None:
        if _strict.get() and self._scoped_because is None and not self.query.is_empty():
            raise UnscopedQuery(
                f"{self.model.__name__} read in a request without for_user(): scope it, or "
                "say why it may cross tenants with unscoped('reason')"
            )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scoped()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._check_scoped()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        if self._result_cache is None:
            self._check_scoped()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._check_scoped()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scoped()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scoped()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scoped()
        return super().delete()


class _DjangosManager(models.Manager):
    """What Django's own machinery reads through (`_default_manager`): the admin's base
    queryset (which the admin then scopes), unique checks, related objects. Unguarded."""

    def get_queryset(self) -> Any:
        queryset = cast(TenantScopedQuerySet, super().get_queryset())
        return queryset.unscoped("Django's own machinery")


def scoped_managers(queryset_class: type[TenantScopedQuerySet]) -> tuple[Any, Any]:
    """(objects, rows): the guarded manager the portal reads through, and the one Django's
    machinery uses (name it in Meta.default_manager_name = "rows")."""
    guarded = models.Manager.from_queryset(queryset_class)()
    machinery = _DjangosManager.from_queryset(queryset_class)()
    return guarded, machinery
