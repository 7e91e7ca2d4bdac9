"""People, tenants, memberships and teams in the admin: operators run tenants, a tenant's
admins their own people and teams."""

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
from django.utils.html import format_html
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import mfa
from accounts.models import (
    SESSION_PRESETS,
    ExternalIdentity,
    Membership,
    Team,
    Tenant,
    User,
)
from audit.models import AuditEvent
from audit.records import RequestMeta, record_for_person
from core import humanize
from core.admin_scoping import (
    OperatorsOnlyMixin,
    TenantScopedAdmin,
    TenantScopedInline,
    is_operator,
)
from core.durations import DurationField, offer_saved_durations
from core.validation import known_time_zones, listed_time_zones


class MembershipInline(TenantScopedInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "tenant"]


class ExternalIdentityInline(TenantScopedInline):
    """Who the person is at their tenant's identity provider. Removing the link makes
    their next sign-in there a first one (a new account, when the tenant creates them)."""

    model = ExternalIdentity
    extra = 0
    fields = ["tenant", "subject", "created_at", "last_sign_in_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


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
    inlines = [MembershipInline, ExternalIdentityInline]
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
        # A new person's first membership comes from the add form's tenant and role; the
        # provider links show only for people who have one.
        if obj is None:
            return []
        linked = obj.identities.exists()
        return [
            inline
            for inline in super().get_inline_instances(request, obj)
            if linked or not isinstance(inline, ExternalIdentityInline)
        ]

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


class TenantForm(forms.ModelForm):
    """A tenant's settings in words: its longest session picked by name, its time zone from
    the places' current names (and the one it has, if an older spelling). (The admin gives
    it its model and fields.)"""

    max_session_seconds = DurationField(
        label="Longest session",
        presets=SESSION_PRESETS,
        help_text=Tenant._meta.get_field("max_session_seconds").help_text,
    )
    time_zone = forms.ChoiceField(
        initial="UTC",
        help_text=Tenant._meta.get_field("time_zone").help_text,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offer_saved_durations(self)
        zones = list(listed_time_zones())
        saved = self.instance.time_zone if self.instance.pk else ""
        if saved and saved not in zones and saved in known_time_zones():
            zones = sorted([*zones, saved])
        self.fields["time_zone"].choices = [(name, name) for name in zones]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    """Tenants. Operators create and manage them; a tenant admin adjusts their own
    tenant's limits, switches and time zone."""

    tenant_admin_permissions = frozenset({"view", "change"})
    form = TenantForm
    list_display = ["name", "slug", "longest_session", "time_zone", "active", "created_at"]
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

    @admin.display(description="longest session", ordering="max_session_seconds")
    def longest_session(self, tenant):
        return humanize.duration(tenant.max_session_seconds)


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
        fields = ["tenant", "name", "provider_group", "members"]

    def clean(self):
        cleaned = super().clean()
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        members = cleaned.get("members")
        if cleaned.get("provider_group") and members:
            # Handed to the provider with people in it, those people would keep the
            # team's grants without the provider ever naming them.
            raise ValidationError(
                {
                    "members": "A team managed by the identity provider takes its members "
                    "from the provider's group: remove them here, and each person in the "
                    "group joins at their next sign-in."
                }
            )
        if tenant is not None and members:
            outsiders = members.exclude(memberships__tenant=tenant)
            if outsiders.exists():
                names = ", ".join(user.get_username() for user in outsiders)
                raise ValidationError({"members": f"Not members of {tenant}: {names}."})
        return cleaned


def _managed(team):
    return team is not None and bool(team.provider_group)


@admin.register(Team)
class TeamAdmin(TenantScopedAdmin):
    """Teams. The members of a team managed by the identity provider come from its groups
    at each sign-in (accounts.sso): they are shown here, not edited."""

    form = TeamForm
    list_display = ["name", "tenant", "provider_group", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__name"]
    filter_horizontal = ["members"]
    list_select_related = ["tenant"]

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        return [*excluded, "members"] if _managed(obj) else excluded

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "members_from_provider"] if _managed(obj) else fields

    @admin.display(description="Members")
    def members_from_provider(self, team):
        names = ", ".join(sorted(member.get_username() for member in team.members.all()))
        return format_html(
            '{}<div class="help">Set by the identity provider: people in its group {} '
            "join at their sign-in there, and leave at their next sign-in once they are "
            "not. Empty the identity provider group to manage the members here.</div>",
            names or "Nobody yet.",
            team.provider_group,
        )


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
