"""The accounts app's admin pages, a module a subject. Importing them registers them."""

from accounts.admin.people import (
    ExternalIdentityInline,
    MembershipAdmin,
    MembershipInline,
    TeamAdmin,
    TeamForm,
    TenantAdmin,
    TenantForm,
    UserAdmin,
    UserCreationForm,
)
from accounts.admin.providers import (
    IdentityProviderAdmin,
    IdentityProviderForm,
    SignInDomainAdmin,
)

__all__ = [
    "ExternalIdentityInline",
    "IdentityProviderAdmin",
    "IdentityProviderForm",
    "MembershipAdmin",
    "MembershipInline",
    "SignInDomainAdmin",
    "TeamAdmin",
    "TeamForm",
    "TenantAdmin",
    "TenantForm",
    "UserAdmin",
    "UserCreationForm",
]
