"""The one scoping door: which tenants a person may see or run, and the queryset method
every tenant-owned model reads through.

A person belongs to tenants through memberships (`user.memberships`, each with a
`tenant_id` and a `role`); operators (superusers) see every tenant. Each tenant-owned
model's queryset declares `tenant_lookup`, the path from a row to its tenant id, and is
read with `for_user(user)` (its tenants) or `for_user(user, manage=True)` (the tenants it
administers). Someone signed out, or switched off, sees nothing.
"""

from django.db import models

# The membership role that runs a tenant.
TENANT_ADMIN = "admin"


def signed_in(user):
    return bool(user and user.is_authenticated and user.is_active)


def tenant_ids(user, *, manage=False):
    """The ids of the tenants `user` belongs to (`manage`: administers)."""
    memberships = user.memberships.all()
    if manage:
        memberships = memberships.filter(role=TENANT_ADMIN)
    return list(memberships.values_list("tenant_id", flat=True))


def administers(user, tenant_id):
    """Whether `user` may run this tenant: an operator, or an admin member of it."""
    if not signed_in(user):
        return False
    return user.is_superuser or tenant_id in tenant_ids(user, manage=True)


class TenantScopedQuerySet(models.QuerySet):
    """A queryset of rows that belong to a tenant, through `tenant_lookup`."""

    tenant_lookup = "tenant"

    def for_user(self, user, *, manage=False):
        if not signed_in(user):
            return self.none()
        if user.is_superuser:
            return self
        # The tenant ids are looked up first, so the database plans the real query with the
        # actual values: on a table of millions of rows (the audit trail) that is the
        # difference between walking an index newest-first and sorting a whole tenant.
        return self.filter(**{f"{self.tenant_lookup}__in": tenant_ids(user, manage=manage)})
