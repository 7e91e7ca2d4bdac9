"""A tenant's identity provider in the admin: its settings (the client secret sealed, never
shown back) and the e-mail domains an operator approves for it."""

from django import forms
from django.contrib import admin, messages
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from accounts import providers
from accounts.models import (
    IdentityProvider,
    SignInDomain,
)
from audit.records import RequestMeta
from core.admin_scoping import (
    OperatorsOnlyMixin,
    TenantScopedAdmin,
)


class IdentityProviderForm(forms.ModelForm):
    issuer = forms.URLField(
        label="Issuer URL",
        max_length=500,
        assume_scheme="https",
        help_text=IdentityProvider._meta.get_field("issuer").help_text,
    )
    client_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored sealed and never shown again. Leave empty to keep the saved one.",
    )
    domains = forms.CharField(
        label="E-mail domains",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line: people whose work e-mail ends in one of these sign in here.",
    )

    class Meta:
        model = IdentityProvider
        fields = ["tenant", *providers.SHOWN]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["domains"] = "\n".join(
                self.instance.domains.values_list("domain", flat=True)
            )
            saved = "A secret is saved (sealed; it is never shown). Enter a new one to replace it."
            self.fields["client_secret"].help_text = saved
            pending = self.instance.domains.filter(approved=False)
            if pending.exists():
                names = ", ".join(pending.values_list("domain", flat=True))
                self.fields["domains"].help_text += (
                    f" Waiting for an operator's approval: {names} (until then, people of "
                    "these domains sign in by typing the tenant's slug)."
                )

    def clean_issuer(self):
        issuer = self.cleaned_data["issuer"].strip()
        if "issuer" in self.changed_data or not self.instance.pk:
            providers.check_issuer(issuer)
        return issuer

    def clean_domains(self):
        return providers.parse_domains(self.cleaned_data["domains"], provider=self.instance)

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("client_secret"):
            self.add_error("client_secret", "The client secret the provider gave for this client.")
        return cleaned


@admin.register(IdentityProvider)
class IdentityProviderAdmin(TenantScopedAdmin):
    """Each tenant's OpenID provider: its admins set up their own, operators any."""

    tenant_admin_permissions = frozenset({"view", "add", "change", "delete"})
    form = IdentityProviderForm
    list_display = ["tenant", "issuer", "client_id", "enabled", "changed_at"]
    list_filter = ["enabled"]
    search_fields = ["tenant__name", "issuer", "client_id"]
    list_select_related = ["tenant"]
    fieldsets = (
        (None, {"fields": ("tenant", "issuer", "client_id", "client_secret", "domains")}),
        ("Claims", {"fields": ("extra_scopes", "groups_claim")}),
        (
            "Policy",
            {"fields": ("allow_passwords", "trust_provider_mfa", "create_people", "enabled")},
        ),
    )

    @method_decorator(sensitive_post_parameters("client_secret"))
    def changeform_view(self, request, *args, **kwargs):
        # Kept out of Django's error reports (the e-mail to ADMINS) should saving crash.
        return super().changeform_view(request, *args, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # A provider stays with its tenant: remove it and add another instead.
        return [*fields, "tenant"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        providers.save_provider(
            provider=obj,
            client_secret=form.cleaned_data.get("client_secret", ""),
            domains=form.cleaned_data["domains"],
            actor=request.user,
            meta=RequestMeta.from_request(request),
            changed=form.changed_data if change else None,
        )

    def delete_model(self, request, obj):
        providers.remove_provider(
            provider=obj, actor=request.user, meta=RequestMeta.from_request(request)
        )

    def delete_queryset(self, request, queryset):
        for provider in queryset:
            self.delete_model(request, provider)


@admin.register(SignInDomain)
class SignInDomainAdmin(OperatorsOnlyMixin, admin.ModelAdmin):
    """E-mail domains tenants route sign-ins by: operators approve the ones tenant admins
    name, after checking the tenant owns them."""

    list_display = ["domain", "tenant", "approved"]
    list_filter = ["approved"]
    search_fields = ["domain", "provider__tenant__name"]
    list_select_related = ["provider__tenant"]
    readonly_fields = ["provider", "domain"]
    actions = ["approve"]

    def has_add_permission(self, request):
        # Domains are named on their provider's page.
        return False

    @admin.display(ordering="provider__tenant__name")
    def tenant(self, domain):
        return domain.provider.tenant

    @admin.action(description="Approve the selected domains")
    def approve(self, request, queryset):
        count = providers.approve_domains(
            domains=queryset, actor=request.user, meta=RequestMeta.from_request(request)
        )
        self.message_user(request, f"Approved {count} domain(s).", messages.SUCCESS)
