"""Access on request in the admin, scoped like every admin page (core/admin_scoping.py):
a tenant admin sees and changes their own tenants' rows only."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from access import notifications, services
from access.models import (
    AccessRequest,
    Decision,
    NotificationChannel,
    SessionCutoff,
    new_signing_salt,
)
from accounts.models import Team, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core.admin_scoping import OperatorsOnlyMixin, TenantScopedAdmin, TenantScopedInline
from core.errors import PortalError


class NotificationChannelForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=2048,
        assume_scheme="https",
        help_text="https only, on a public address.",
    )

    class Meta:
        model = NotificationChannel
        fields = ["tenant", "name", "kind", "url", "active"]
        # The read-only signing key's help text: the admin looks for it here.
        help_texts = {"signing_key": "Give it to the receiver; it checks X-Portcullis-Signature."}


@admin.register(NotificationChannel)
class NotificationChannelAdmin(TenantScopedAdmin):
    """A tenant's Slack, Teams and signed webhook channels for access notifications."""

    form = NotificationChannelForm
    list_display = ["name", "kind", "tenant", "active"]
    list_filter = ["kind", "active", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["name"]
    readonly_fields = ["signing_key"]
    actions = ["send_test_message", "new_signing_key"]

    def _record(self, request, action, channel, detail):
        # Never the URL: for Slack and Teams it is itself the key to post.
        record(
            action,
            actor=request.user,
            tenant=channel.tenant,
            meta=RequestMeta.from_request(request),
            detail=f"{channel.get_kind_display()} {channel.name!r}: {detail}"[:500],
        )

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change:
                changed = ", ".join(form.changed_data) or "nothing"
                self._record(request, AuditEvent.Action.CHANNEL_CHANGED, obj, f"changed {changed}")
            else:
                self._record(request, AuditEvent.Action.CHANNEL_ADDED, obj, "added")

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record(request, AuditEvent.Action.CHANNEL_REMOVED, obj, "removed")
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            self.delete_model(request, channel)

    @admin.display(description="signing key")
    def signing_key(self, obj: NotificationChannel) -> str:
        if obj.pk is None or obj.kind != NotificationChannel.Kind.WEBHOOK:
            return "-"
        return notifications.signing_key(obj).hex()

    @admin.action(description="Send a test message", permissions=["change"])
    def send_test_message(self, request, queryset):
        channels = list(queryset.filter(active=True).select_related("tenant"))
        for channel in channels:
            notifications.send_test_message(channel)
        self.message_user(
            request,
            f"Sending a test message to {len(channels)} active channel(s).",
            messages.SUCCESS,
        )

    @admin.action(description="New signing key", permissions=["change"])
    def new_signing_key(self, request, queryset):
        channels = list(queryset.filter(kind=NotificationChannel.Kind.WEBHOOK))
        for channel in channels:
            with transaction.atomic():
                channel.signing_salt = new_signing_salt()
                channel.save(update_fields=["signing_salt"])
                self._record(request, AuditEvent.Action.CHANNEL_CHANGED, channel, "new signing key")
        self.message_user(
            request,
            f"New signing key for {len(channels)} signed webhook(s): give it to the receiver.",
            messages.SUCCESS,
        )


class BreakGlassReviewFilter(admin.SimpleListFilter):
    title = "break-glass review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting for review"), ("done", "Reviewed")]

    def queryset(self, request, queryset):
        used = queryset.filter(break_glass=True, activated_at__isnull=False)
        if self.value() == "waiting":
            return used.filter(reviewed_at__isnull=True)
        if self.value() == "done":
            return used.filter(reviewed_at__isnull=False)
        return queryset


class DecisionInline(TenantScopedInline):
    model = Decision
    extra = 0
    operator_permissions = tenant_admin_permissions = frozenset({"view"})
    fields = ["approver_username", "outcome", "comment", "created_at"]
    readonly_fields = fields


@admin.register(AccessRequest)
class AccessRequestAdmin(TenantScopedAdmin):
    """Every request of the tenant, read-only: the record of who asked, why, who decided.
    Windows can be ended from here; unreviewed break-glass use has its own filter."""

    operator_permissions = tenant_admin_permissions = frozenset({"view"})
    list_display = [
        "id",
        "requester",
        "grant",
        "tenant",
        "state",
        "break_glass",
        "created_at",
        "ends_at",
        "reviewed_at",
    ]
    list_filter = ["state", BreakGlassReviewFilter, "break_glass", "tenant"]
    list_select_related = ["requester", "grant", "tenant"]
    search_fields = ["requester__username", "grant__label", "grant__role_arn", "ticket"]
    date_hierarchy = "created_at"
    inlines = [DecisionInline]
    actions = ["end_windows"]
    readonly_fields = [field.name for field in AccessRequest._meta.fields if field.name != "id"]

    @admin.action(description="End the selected windows now", permissions=["view"])
    def end_windows(self, request, queryset):
        meta = RequestMeta.from_request(request)
        for access in queryset.filter(state=AccessRequest.State.ACTIVE):
            try:
                _, outcome = services.end_window(user=request.user, request_id=access.pk, meta=meta)
            except PortalError as error:
                self.message_user(request, f"#{access.pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"#{access.pk} ended. {outcome}", messages.SUCCESS)


@admin.register(SessionCutoff)
class SessionCutoffAdmin(TenantScopedAdmin):
    """The deny statements put on roles when windows ended early, until they are pruned."""

    operator_permissions = tenant_admin_permissions = frozenset({"view"})
    list_display = [
        "source_identity",
        "role_arn",
        "issued_before",
        "whole_role",
        "keep_until",
        "removed_at",
        "tenant",
    ]
    list_filter = ["whole_role", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["source_identity", "role_arn", "sid"]
    readonly_fields = [field.name for field in SessionCutoff._meta.fields if field.name != "id"]


class DeletesRequestsToo:
    """A person or team deleted takes their requests with them (the trail keeps the story):
    that needs no delete permission of its own on these read-only records."""

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for model in (AccessRequest, Decision, SessionCutoff):
            perms_needed.discard(model._meta.verbose_name)
        return deleted, counts, perms_needed, protected


for model in (User, Team):
    current = type(admin.site._registry[model])
    admin.site.unregister(model)
    admin.site.register(
        model, type(current.__name__, (DeletesRequestsToo, current), {"__module__": __name__})
    )


# The background worker's task results (django-tasks-db): platform-wide, operators only.
if admin.site.is_registered(DBTaskResult):
    task_admin = type(admin.site._registry[DBTaskResult])
    admin.site.unregister(DBTaskResult)
    admin.site.register(
        DBTaskResult,
        type(task_admin.__name__, (OperatorsOnlyMixin, task_admin), {"__module__": __name__}),
    )
