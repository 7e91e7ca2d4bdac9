"""How every admin page is scoped: operators see everything, tenant admins their tenants.

Every ModelAdmin registered on the site declares `scope` (a test fails for one that does
not): "tenant" admins go through `for_user(user, action="manage")` for their rows, their
foreign-key and many-to-many choices, their list filters and (through the related admin)
autocomplete and raw-id popups; "operators" admins are for platform operators only.

The traps closed here are the ones Django's admin leaves open by default: choices and
`RelatedFieldListFilter` read the related model's whole table, and a missing object
redirects to the index instead of answering 404.
"""

import functools

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import Http404, HttpResponseRedirect

from core.scoping import tenant_ids
from core.templatetags import units

ALL_PERMISSIONS = frozenset({"view", "add", "change", "delete"})


def is_operator(user):
    return bool(user.is_active and user.is_superuser)


def is_tenant_admin(user):
    return bool(user.is_active and user.is_staff and user.is_tenant_admin)


def scoped(queryset, user):
    """The rows of `queryset` that `user` may manage, if the model is tenant-owned."""
    if hasattr(queryset, "for_user"):
        return queryset.for_user(user, action="manage")
    return queryset


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object filter offering only the objects the viewer may manage."""

    def field_choices(self, field, request, model_admin):
        related = scoped(field.related_model._default_manager.all(), request.user)
        return [(obj.pk, str(obj)) for obj in related]


class PortalAdminSite(admin.AdminSite):
    """The admin site: for platform operators and for tenant admins (staff with an admin
    membership). Staff flags alone open nothing."""

    site_header = "Portcullis administration"
    # The lists (grants, people) get the whole width; the index page lists the models.
    enable_nav_sidebar = False
    site_title = "Portcullis admin"
    index_title = "Administration"

    def has_permission(self, request):
        return is_operator(request.user) or is_tenant_admin(request.user)


class ScopedMixin:
    """Shared by model admins and inlines. `tenant_admin_permissions` is what tenant admins
    may do; `operator_permissions` what operators may do (read-only trails drop the rest).
    """

    scope = "tenant"
    operator_permissions = ALL_PERMISSIONS
    tenant_admin_permissions = ALL_PERMISSIONS

    def get_queryset(self, request):
        return scoped(super().get_queryset(request), request.user)

    def allows(self, request, permission):
        user = request.user
        if is_operator(user):
            return permission in self.operator_permissions
        if self.scope == "tenant" and is_tenant_admin(user):
            return permission in self.tenant_admin_permissions
        return False

    def has_module_permission(self, request):
        return self.allows(request, "view")

    def has_view_permission(self, request, obj=None):
        return self.allows(request, "view") or self.allows(request, "change")

    def has_add_permission(self, request, *args):
        return self.allows(request, "add")

    def has_change_permission(self, request, obj=None):
        return self.allows(request, "change")

    def has_delete_permission(self, request, obj=None):
        return self.allows(request, "delete")

    def _scope_choices(self, db_field, request, kwargs):
        if "queryset" not in kwargs:
            kwargs["queryset"] = scoped(
                db_field.remote_field.model._default_manager.all(), request.user
            )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # Nothing moves between tenants: a row stays in the tenant it was created in.
        if obj is not None and _has_field(self.model, "tenant") and "tenant" not in fields:
            fields.append("tenant")
        return fields


def _has_field(model, name):
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


# What a date drill-down in a list may ask for: Django adds a year to the one chosen, so
# the last year it can show is 9998.
DRILLDOWN_RANGES = {"year": (1, 9998), "month": (1, 12), "day": (1, 31)}


def _drilldown_is_sane(query, field):
    for part, (low, high) in DRILLDOWN_RANGES.items():
        value = query.get(f"{field}__{part}")
        if value is not None and not (value.isdigit() and low <= int(value) <= high):
            return False
    return True


@functools.cache
def _moment_column(model, name):
    """A list column of a date-time field shows the moment in the viewer's time zone with
    UTC on hover, as the portal's pages do; any other column stays as it is."""
    try:
        field = model._meta.get_field(name) if isinstance(name, str) else None
    except FieldDoesNotExist:
        field = None
    if not isinstance(field, models.DateTimeField):
        return name

    @admin.display(description=field.verbose_name, ordering=name, empty_value="-")
    def column(obj):
        moment = getattr(obj, name)
        return units.when(moment) if moment else None

    column.__name__ = name  # the column keeps its field's CSS class (field-<name>)
    return column


class TenantScopedAdmin(ScopedMixin, admin.ModelAdmin):
    """A ModelAdmin over tenant-owned rows."""

    def get_object(self, request, object_id, from_field=None):
        # Another tenant's object does not exist for this viewer: 404, on every page.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj

    def changelist_view(self, request, extra_context=None):
        if self.date_hierarchy and not _drilldown_is_sane(request.GET, self.date_hierarchy):
            messages.error(request, "That date is outside the calendar: showing every date.")
            return HttpResponseRedirect(request.path)
        return super().changelist_view(request, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """The change history, naming platform operators only to operators: a tenant admin
        sees that an operator made a change, not who."""
        response = super().history_view(request, object_id, extra_context)
        if not is_operator(request.user) and hasattr(response, "context_data"):
            for entry in response.context_data.get("action_list", []):
                if entry.user.is_superuser:
                    entry.user = type(entry.user)(username="a platform operator")
        return response

    def _runs_one_tenant(self, request):
        """A tenant admin of one tenant: a tenant column or filter would say the same thing
        on every row."""
        return not is_operator(request.user) and len(tenant_ids(request.user, action="manage")) == 1

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if self._runs_one_tenant(request):
            shown = [name for name in shown if name != "tenant"]
        return [_moment_column(self.model, name) for name in shown]

    def get_list_filter(self, request):
        # A bare related field name would list every tenant's objects in the sidebar.
        filters = []
        one_tenant = self._runs_one_tenant(request)
        for item in super().get_list_filter(request):
            if one_tenant and item == "tenant":
                continue
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if isinstance(field, models.ForeignKey | models.ManyToManyField):
                    item = (item, ScopedRelatedFieldListFilter)
            filters.append(item)
        return filters


class StaysInItsTenantForm(forms.ModelForm):
    """An inline row that exists keeps its tenant and its person (nothing moves: the fields
    are disabled, so a posted value is ignored); a new row chooses them, among those the
    viewer may manage."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in ("tenant", "user"):
                if name in self.fields:
                    self.fields[name].disabled = True


class TenantScopedInline(ScopedMixin, admin.TabularInline):
    """An inline over tenant-owned rows."""

    form = StaysInItsTenantForm

    def get_readonly_fields(self, request, obj=None):
        # `obj` is the page's object (a person), not the row: new rows need their tenant.
        return admin.TabularInline.get_readonly_fields(self, request, obj)


class OperatorsOnlyMixin:
    """For platform-wide data (sign-in attempts, groups): operators only.

    Mix in before a third-party ModelAdmin; its own permission rules still apply on top.
    """

    scope = "operators"

    def has_module_permission(self, request):
        return is_operator(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_operator(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_operator(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_operator(request.user) and super().has_delete_permission(request, obj)
