"""API tokens in the admin: listed with their owner and use, revoked, never shown."""

from django.contrib import admin, messages

from audit.records import RequestMeta
from core.admin_scoping import TenantScopedAdmin
from federation import services
from federation.models import (
    ApiToken,
)


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    """Personal API tokens, hashed: names and use only. Admins can revoke, not create."""

    operator_permissions = tenant_admin_permissions = frozenset({"view", "change"})
    list_display = [
        "name",
        "user",
        "key_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    search_fields = ["name", "user__username", "key_id"]
    readonly_fields = [
        "user",
        "name",
        "key_id",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_select_related = ["user"]
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        meta = RequestMeta.from_request(request)
        tokens = list(queryset.live())
        for token in tokens:
            services.revoke_token(actor=request.user, token=token, meta=meta)
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)
