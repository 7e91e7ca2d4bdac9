"""Grants in the admin: the list (who, which role, how long, in force or not, when last
used), granting, changing, ending grants and revoking a role's live sessions."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import Tenant
from audit.models import AuditEvent
from audit.records import AuditUnavailable, RequestMeta
from core import humanize
from core.admin_scoping import TenantScopedAdmin
from core.validation import describe
from federation import aws, services
from federation.admin.grant_forms import GrantForm, RoleMappingForm
from federation.models import (
    RoleMapping,
    account_names,
)


def _latest_record(**filters):
    """When the newest audit record matching `filters` (which may name the grant's own
    columns with OuterRef) was written, for each grant in the list."""
    return Subquery(
        AuditEvent.objects.filter(**filters).order_by("-created_at").values("created_at")[:1]
    )


def _sessions_revoked_at():
    """When the role's live sessions were last revoked in the grant's tenant."""
    return _latest_record(
        tenant=OuterRef("tenant"),
        role_arn=OuterRef("role_arn"),
        action=AuditEvent.Action.SESSIONS_REVOKED,
    )


def _last_used_at():
    """When the grant last issued a session (its own audit records)."""
    return _latest_record(
        mapping_id=OuterRef("pk"),
        action__in=[AuditEvent.Action.CONSOLE_ISSUED, AuditEvent.Action.CLI_ISSUED],
    )


class GrantChangeList(ChangeList):
    """The grants list: each grant on the page learns its account's name from the one
    selector every page uses (account_names)."""

    def get_results(self, request):
        super().get_results(request)
        names = account_names(request.user)
        for grant in self.result_list:
            grant.account_name = grant.account_name_in(names)


class GrantStateFilter(admin.SimpleListFilter):
    """Grants in force by default; the others (ended, expired, not yet begun, in a
    switched-off tenant) only when asked for."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("current", "In force"), ("ended", "Not in force"), ("all", "All")]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "current") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "current"
        if value == "current":
            return queryset.current()
        if value == "ended":
            return queryset.not_current()
        return queryset


@admin.register(RoleMapping)
class RoleMappingAdmin(TenantScopedAdmin):
    """Role grants. Grants are ended, never deleted, so the record of who had what stays."""

    operator_permissions = tenant_admin_permissions = frozenset({"view", "add", "change"})
    form = RoleMappingForm
    list_display = [
        "label",
        "who",
        "role",
        "tenant",
        "limit",
        "valid_until",
        "state",
        "last_used",
        "sessions_revoked_at",
    ]
    list_filter = [GrantStateFilter, "activation", "tenant"]
    filter_horizontal = ["approvers", "approver_teams"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "tenant",
                    "user",
                    "team",
                    "role_arn",
                    "label",
                    "account_alias",
                    "max_session_seconds",
                    "destination_path",
                    "region",
                    "session_policy",
                    "valid_from",
                    "valid_until",
                    "active",
                    "granted_by",
                    "created_at",
                    "sessions_revoked_at",
                ]
            },
        ),
        (
            "Access on request",
            {
                "fields": [
                    "activation",
                    "approvers",
                    "approver_teams",
                    "approvals_needed",
                    "max_activation_seconds",
                    "ticket_required",
                    "break_glass",
                    "escalate_after_seconds",
                ],
                "description": "An on-request grant is used only inside a window someone "
                "else approved; every session ends with the window.",
            },
        ),
    ]
    search_fields = ["label", "role_arn", "user__username", "team__name"]
    autocomplete_fields = ["user", "team", "tenant"]
    list_select_related = ["tenant", "user", "team__tenant"]
    readonly_fields = ["granted_by", "created_at", "sessions_revoked_at"]
    actions = ["end_grants", "revoke_sessions"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .with_in_force()
            .annotate(
                sessions_revoked=_sessions_revoked_at(),
                last_used_at=_last_used_at(),
            )
        )

    def get_changelist(self, request, **kwargs):
        return GrantChangeList

    @admin.display(description="for", ordering="user__username")
    def who(self, grant):
        return grant.user or format_html("team {}", grant.team.name if grant.team else "")

    @admin.display(description="role", ordering="role_arn")
    def role(self, grant):
        # The account as the tenant's directory names it, else as the grant's alias does
        # (account_name_in, as on the roles page); its id when neither names it.
        account_id = grant.role.account_id
        return format_html(
            '<span title="{}">{}</span><br><span class="quiet" title="account {}">{}</span>',
            grant.role_arn,
            grant.role.name,
            account_id,
            getattr(grant, "account_name", "") or account_id,
        )

    @admin.display(description="longest session", ordering="max_session_seconds")
    def limit(self, grant):
        text = humanize.duration(grant.max_session_seconds)
        return f"{text}, on request" if grant.on_request else text

    @admin.display(description="state")
    def state(self, grant):
        # Whether it is in force comes from the queryset (current()); the rest says why not.
        if grant.in_force:
            return "in force"
        if not grant.active:
            return "ended"
        if grant.valid_until and grant.valid_until <= timezone.now():
            return "expired"
        if not grant.tenant.active:
            return "tenant switched off"
        return "not yet in force"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, grant):
        return grant.last_used_at or "never"

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            # Another person or another role is another grant: end this one, grant anew.
            fields += [name for name in ("user", "team", "role_arn") if name not in fields]
        return fields

    @admin.display(description="sessions revoked", ordering="sessions_revoked")
    def sessions_revoked_at(self, obj):
        return getattr(obj, "sessions_revoked", None) or "-"

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = GrantForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = dict(form.cleaned_data)
            try:
                granted = services.grant_roles(
                    actor=request.user, meta=RequestMeta.from_request(request), **data
                )
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for field, errors in error.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, describe(error))
            else:
                self.message_user(
                    request,
                    f"Granted {granted.grants[0].label} to "
                    + ", ".join(str(mapping.grantee) for mapping in granted.grants)
                    + ".",
                    messages.SUCCESS,
                )
                for warning in granted.warnings:
                    self.message_user(request, warning, messages.WARNING)
                return redirect("admin:federation_rolemapping_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant a role",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "regions": aws.available_regions("aws"),
            "picker": services.role_picker(form.tenants),
        }
        return TemplateResponse(request, "admin/federation/rolemapping/grant.html", context)

    def save_related(self, request, form, formsets, change):
        # After the approvers are saved, so the record names the new ones.
        super().save_related(request, form, formsets, change)
        if change and form.changed_data:
            services.change_grant(
                actor=request.user,
                mapping=form.instance,
                changed_fields=form.changed_data,
                meta=RequestMeta.from_request(request),
            )
        for warning in getattr(form, "role_warnings", []):
            self.message_user(request, warning, messages.WARNING)

    @admin.action(description="End the selected grants now", permissions=["change"])
    def end_grants(self, request, queryset):
        meta = RequestMeta.from_request(request)
        ended = [
            services.revoke_grant(actor=request.user, mapping=mapping, meta=meta)
            for mapping in queryset.filter(active=True)
        ]
        self.message_user(request, f"Ended {len(ended)} grant(s).", messages.SUCCESS)

    @admin.action(
        description="Revoke the live sessions of the selected roles", permissions=["change"]
    )
    def revoke_sessions(self, request, queryset):
        roles = sorted(
            set(queryset.values_list("tenant_id", "tenant__name", "role_arn")),
            key=lambda row: (row[1], row[2]),
        )
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "admin/federation/rolemapping/revoke_sessions.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Revoke live sessions?",
                    "opts": self.opts,
                    "roles": roles,
                    "selected": queryset.values_list("pk", flat=True),
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        meta = RequestMeta.from_request(request)
        for tenant_id, tenant_name, role_arn in roles:
            try:
                cutoff = services.revoke_role_sessions(
                    actor=request.user,
                    tenant=Tenant(pk=tenant_id),
                    role_arn=role_arn,
                    meta=meta,
                )
            except (aws.AwsError, AuditUnavailable) as error:
                self.message_user(
                    request, f"Sessions of {role_arn} not revoked: {error}", messages.ERROR
                )
            except services.GrantNotFound:
                self.message_user(
                    request,
                    f"Sessions of {role_arn} not revoked: not a role of yours.",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    f"Sessions of {role_arn} ({tenant_name}) issued before "
                    f"{cutoff:%Y-%m-%d %H:%M:%S} UTC are now denied everything.",
                    messages.SUCCESS,
                )
