from django.contrib import admin

from federation import services
from federation.models import ApiToken, AuditEvent, RoleMapping


@admin.register(RoleMapping)
class RoleMappingAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "role_arn",
        "tenant",
        "user",
        "team",
        "max_session_seconds",
        "valid_until",
        "active",
    ]
    list_filter = ["active", "tenant"]
    search_fields = ["label", "role_arn", "user__username", "team__name"]
    autocomplete_fields = ["user", "team", "tenant"]
    list_select_related = ["tenant", "user", "team"]
    readonly_fields = ["granted_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.granted_by = request.user
        super().save_model(request, obj, form, change)
        services.record(
            "mapping.changed" if change else "mapping.granted",
            actor=request.user,
            mapping=obj,
            meta=services.RequestMeta.from_request(request),
            duration_seconds=obj.max_session_seconds,
            detail=(", ".join(form.changed_data) if change else f"granted to {obj.grantee}")[:500],
        )

    def delete_model(self, request, obj):
        services.revoke_grant(
            actor=request.user, mapping=obj, meta=services.RequestMeta.from_request(request)
        )
        super().delete_model(request, obj)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone: the trail is append-only."""

    list_display = [
        "created_at",
        "action",
        "actor_username",
        "tenant",
        "role_arn",
        "role_session_name",
        "client_ip",
        "error_code",
    ]
    list_filter = ["action", "tenant"]
    search_fields = ["actor_username", "role_arn"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "key_id", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "user__username", "key_id"]
    readonly_fields = ["user", "name", "key_id", "created_at", "last_used_at"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False
