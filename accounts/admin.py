from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.models import Membership, Team, Tenant, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person
from core.admin_scoping import (
    OperatorsOnlyMixin,
    TenantScopedAdmin,
    TenantScopedInline,
    is_operator,
)


class MembershipInline(TenantScopedInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "tenant"]


class UserCreationForm(AdminUserCreationForm):
    """A new person always starts inside a tenant (otherwise nobody but operators sees them)."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ["username", "email"]


@admin.register(User)
class UserAdmin(TenantScopedAdmin, DjangoUserAdmin):
    """People. Tenant admins see the people of their tenants (never platform operators),
    add people to them and edit those who belong to no other tenant; they cannot grant
    staff, superuser, group or permission flags."""

    tenant_admin_permissions = frozenset({"view", "add", "change"})
    inlines = [MembershipInline]
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]
    add_form = UserCreationForm
    actions = ["reset_second_factor"]

    def has_reset_permission(self, request):
        return is_operator(request.user)

    @admin.action(
        description="Reset the second factor of the selected people (lost phone)",
        permissions=["reset"],
    )
    def reset_second_factor(self, request, queryset):
        """Operators only: the authenticator and recovery codes go, and the person sets up a
        new one (with a fresh key) at their next sign-in."""
        meta = RequestMeta.from_request(request)
        people = list(queryset)
        for person in people:
            mfa.remove_second_factor(person)
            record_for_person(
                AuditEvent.Action.MFA_REMOVED,
                actor=request.user,
                person=person,
                meta=meta,
                detail=f"second factor of {person.get_username()} reset by an operator",
            )
        self.message_user(
            request, f"Reset the second factor of {len(people)} person(s).", messages.SUCCESS
        )

    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "password1", "password2", "tenant", "role"),
            },
        ),
    )
    tenant_admin_fieldsets = (
        (None, {"fields": ("username", "session_name", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Status", {"fields": ("is_active", "last_login", "date_joined")}),
    )

    fieldsets = (
        (None, {"fields": ("username", "session_name", "password")}),
        *DjangoUserAdmin.fieldsets[1:],
    )

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not is_operator(request.user):
            return self.tenant_admin_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = [*super().get_readonly_fields(request, obj), "session_name"]
        if obj is not None and not is_operator(request.user):
            fields += ["username", "last_login", "date_joined"]
        return fields

    def get_inline_instances(self, request, obj=None):
        # A new person's first membership comes from the add form's tenant and role.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_list_filter(self, request):
        if is_operator(request.user):
            return ["is_staff", "is_superuser", "is_active"]
        return ["is_active"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            # The tenant choices depend on who is adding.
            form = type(form.__name__, (form,), {})
            form.base_fields = {**form.base_fields}
            form.base_fields["tenant"] = forms.ModelChoiceField(
                queryset=Tenant.objects.for_user(request.user, action="manage"),
                help_text="The tenant the person joins.",
            )
        return form

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None or is_operator(request.user):
            return True
        # A person who also belongs to another tenant is that tenant's too: hands off.
        return (
            User.objects.for_user(request.user, action="manage", solely=True)
            .filter(pk=obj.pk)
            .exists()
        )

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if not change:
                Membership.objects.create(
                    user=obj, tenant=form.cleaned_data["tenant"], role=form.cleaned_data["role"]
                )


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Tenants. Operators create and manage them; a tenant admin adjusts their own
    tenant's limits and switches."""

    tenant_admin_permissions = frozenset({"view", "change"})
    list_display = ["name", "slug", "max_session_seconds", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "slug", "external_id"]
    readonly_fields = ["external_id", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not is_operator(request.user):
            fields += ["slug", "active"]
        return fields

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if is_operator(request.user) else {}


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__name", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]

    def get_readonly_fields(self, request, obj=None):
        # A membership is one person's place in one tenant: neither moves (remove it and
        # add another, so leaving is recorded and takes the person's access with it).
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "user"] if obj is not None else fields


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["tenant", "name", "members"]

    def clean(self):
        cleaned = super().clean()
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        members = cleaned.get("members")
        if tenant is not None and members:
            outsiders = members.exclude(memberships__tenant=tenant)
            if outsiders.exists():
                names = ", ".join(user.get_username() for user in outsiders)
                raise ValidationError({"members": f"Not members of {tenant}: {names}."})
        return cleaned


@admin.register(Team)
class TeamAdmin(TenantScopedAdmin):
    form = TeamForm
    list_display = ["name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__name"]
    filter_horizontal = ["members"]
    list_select_related = ["tenant"]


# Platform-wide records from Django and django-axes: operators only.
for model, model_admin in [
    (Group, DjangoGroupAdmin),
    (AccessAttempt, axes_admin.AccessAttemptAdmin),
    (AccessLog, axes_admin.AccessLogAdmin),
    (AccessFailureLog, axes_admin.AccessFailureLogAdmin),
    # Second-factor devices: an operator removes a lost phone's so its owner can re-enrol.
    (TOTPDevice, TOTPDeviceAdmin),
    (StaticDevice, StaticDeviceAdmin),
]:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    scoped_admin = type(
        model_admin.__name__, (OperatorsOnlyMixin, model_admin), {"__module__": __name__}
    )
    admin.site.register(model, scoped_admin)
