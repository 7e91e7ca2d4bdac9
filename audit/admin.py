"""The audit trail in the admin, read-only for everyone, and the sinks it is streamed to;
scoped like every admin page."""

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views.decorators.debug import sensitive_post_parameters

from audit import sinks
from audit.models import AuditEvent, AuditSink
from audit.records import RequestMeta
from core.admin_scoping import TenantScopedAdmin, is_operator


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


class AuditSinkForm(forms.ModelForm):
    token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Splunk: the HEC token (required). HTTPS: sent as a Bearer token "
        "(optional). Syslog: none. Stored sealed and never shown again.",
    )
    start = forms.ChoiceField(
        label="Send",
        choices=[("first", "the whole trail, from its first record"), ("now", "new records only")],
        initial="first",
    )

    class Meta:
        model = AuditSink
        fields = ["tenant", "name", "kind", "destination", "ca_certificate", "active"]
        widgets = {"ca_certificate": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["start"]  # where a sink starts is chosen once, when it is added
        if self.instance.has_token:
            saved = "A token is saved (sealed; it is never shown). Enter a new one to replace it."
            self.fields["token"].help_text = saved

    def clean(self):
        cleaned = super().clean()
        kind, token = cleaned.get("kind"), cleaned.get("token")
        moved = self.instance.pk and {"kind", "destination", "ca_certificate"} & set(
            self.changed_data
        )
        if moved and self.instance.has_token and kind != AuditSink.Kind.SYSLOG_TLS and not token:
            # The saved token goes only where it was given for: a sink pointed elsewhere
            # needs it given again, so nobody can send it to a host of their own.
            self.add_error("token", "Enter the token again: the sink now points elsewhere.")
        elif kind == AuditSink.Kind.SPLUNK_HEC and not (token or self.instance.has_token):
            self.add_error("token", "The HEC token Splunk gave for this input.")
        if kind == AuditSink.Kind.SYSLOG_TLS and token:
            self.add_error("token", "A syslog receiver takes no token.")
        return cleaned


@admin.register(AuditSink)
class AuditSinkAdmin(TenantScopedAdmin):
    """Where the trail is streamed. Tenant admins set up their tenants' sinks (public hosts
    only); operators any, including the operator's sink (no tenant), which receives every
    record and may be inside the company network."""

    form = AuditSinkForm
    list_display = ["name", "kind", "receives", "active", "state", "last_success_at"]
    list_filter = ["kind", "active"]
    list_select_related = ["tenant"]
    search_fields = ["name"]
    actions = ["deliver_now"]
    # How delivery goes, on the sink's page.
    readonly_fields = [
        "cursor",
        "waiting",
        "last_success_at",
        "last_error",
        "failing_since",
        "retry_after",
    ]

    @method_decorator(sensitive_post_parameters("token"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A crash while saving must not put the token into an error report.
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        where = ["tenant", "name", "kind", "destination", "token", "ca_certificate", "active"]
        if obj is None:
            return [(None, {"fields": [*where, "start"]})]
        return [(None, {"fields": where}), ("Delivery", {"fields": self.readonly_fields})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        tenant = form.base_fields.get("tenant")
        if tenant is not None:
            # Only an operator may leave it empty: the sink that receives every record.
            tenant.required = not is_operator(request.user)
            if not tenant.required:
                tenant.empty_label = "none: the operator's sink, receiving every record"
        return form

    @admin.display(description="receives", ordering="tenant__name")
    def receives(self, sink):
        return f"{sink.tenant}'s records" if sink.tenant_id else "every record"

    @admin.display(description="state")
    def state(self, sink):
        if sink.failing_since:
            return f"failing since {sink.failing_since:%Y-%m-%d %H:%M} UTC: {sink.last_error}"
        return "delivering" if sink.active else "switched off"

    @admin.display(description="records waiting")
    def waiting(self, sink):
        cap = 10_000
        count = sink.waiting()[: cap + 1].count()
        return f"more than {cap:,}" if count > cap else f"{count:,}"

    def save_model(self, request, obj, form, change):
        sinks.save_sink(
            sink=obj,
            token=form.cleaned_data.get("token", ""),
            actor=request.user,
            meta=RequestMeta.from_request(request),
            from_start=form.cleaned_data.get("start", "first") == "first",
            changed=form.changed_data if change else None,
        )

    def delete_model(self, request, obj):
        sinks.remove_sink(sink=obj, actor=request.user, meta=RequestMeta.from_request(request))

    def delete_queryset(self, request, queryset):
        for sink in queryset:
            self.delete_model(request, sink)

    @admin.action(
        description="Deliver now (do not wait for the next attempt)", permissions=["change"]
    )
    def deliver_now(self, request, queryset):
        queued = sum(sinks.deliver_now(sink) for sink in queryset.filter(active=True))
        self.message_user(request, f"Delivering to {queued} active sink(s) now.", messages.SUCCESS)
