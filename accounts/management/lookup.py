"""Lookups the operator commands share, failing with a one-line CommandError."""

from django.core.management.base import CommandError

from accounts.models import Tenant


def tenant_by_slug(slug):
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"no tenant with slug '{slug}' (see tenant_add)")
    return tenant
