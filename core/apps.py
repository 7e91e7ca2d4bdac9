from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin with the portal's site: operators and tenant admins only."""

    default_site = "core.admin_scoping.PortalAdminSite"
