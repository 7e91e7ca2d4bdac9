"""The audit trail in the admin: read-only for everyone, scoped like every admin page."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from audit.models import AuditEvent
from core.admin_scoping import TenantScopedAdmin


class CappedPaginator(Paginator):
    """Counts at most CAP rows: a list of a million records costs what one of 10 000 does.
    Deeper history is for /audit/, whose pages need no count at all."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP + 1].count()


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdmin):
    """Read-only for everyone: the trail is append-only."""

    paginator = CappedPaginator
    # As on /audit/: a page a reviewer reads, rendered fast at a million records.
    list_per_page = 50
    change_list_template = "admin/audit/auditevent/change_list.html"

    operator_permissions = tenant_admin_permissions = frozenset({"view"})
    list_display = [
        "created_at",
        "action",
        "actor_username",
        "tenant",
        "role_arn",
        "role_session_name",
        "source_identity",
        "client_ip",
        "error_code",
    ]
    list_filter = ["action", "tenant"]
    search_fields = ["actor_username", "role_arn"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    show_full_result_count = False
    actions = None
