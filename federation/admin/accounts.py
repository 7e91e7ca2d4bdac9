"""The tenant's AWS accounts in the admin: the account directory, and filling it from AWS
Organizations."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from accounts.models import Tenant
from audit.records import AuditUnavailable, RequestMeta
from core.admin_scoping import TenantScopedAdmin, scoped
from federation import aws, services
from federation.models import (
    AwsAccount,
)


class FillForm(forms.Form):
    """Which tenant's directory to fill from AWS Organizations."""

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        tenants = scoped(Tenant.objects.all(), user)
        self.fields["tenant"].queryset = tenants
        if len(tenants) == 1:
            self.fields["tenant"].initial = tenants[0].pk


@admin.register(AwsAccount)
class AwsAccountAdmin(TenantScopedAdmin):
    """Names for the tenant's AWS accounts, shown wherever an account id is; typed here or
    filled from the tenant's AWS Organizations organization."""

    tenant_admin_permissions = frozenset({"view", "add", "change", "delete"})
    list_display = ["name", "account_id", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name", "account_id"]
    list_select_related = ["tenant"]

    def get_urls(self):
        fill = path(
            "fill/",
            self.admin_site.admin_view(self.fill_view),
            name="federation_awsaccount_fill",
        )
        return [fill, *super().get_urls()]

    def fill_view(self, request):
        """Fill from AWS Organizations: choose the tenant, then the portal reads and names."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = FillForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            tenant = form.cleaned_data["tenant"]
            try:
                filled = services.fill_from_organizations(
                    actor=request.user, tenant=tenant, meta=RequestMeta.from_request(request)
                )
            except (
                services.NoManagementAccount,
                services.PortalsOwnAccount,
                aws.AwsError,
                AuditUnavailable,
            ) as error:
                self.message_user(request, f"Nothing was filled: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Filled {tenant}'s AWS accounts from AWS Organizations: "
                    f"{filled.added} added, {filled.renamed} renamed, "
                    f"{filled.unchanged} unchanged.",
                    messages.SUCCESS,
                )
                return redirect("admin:federation_awsaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Fill from AWS Organizations",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/federation/awsaccount/fill.html", context)
