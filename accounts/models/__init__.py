"""Who people are and where they belong (people), and how they sign in through their company's
identity provider (providers): the accounts app's models, a module a subject."""

from accounts.models.people import (
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    SESSION_NAME_MAX,
    SESSION_PRESETS,
    Membership,
    Team,
    Tenant,
    TenantOwnQuerySet,
    User,
    UserManager,
    UserQuerySet,
    new_external_id,
    session_name_base,
    session_seconds_validators,
)
from accounts.models.providers import (
    ExternalIdentity,
    ExternalIdentityQuerySet,
    IdentityProvider,
    SignInDomain,
    SignInDomainQuerySet,
)

__all__ = [
    "ExternalIdentity",
    "ExternalIdentityQuerySet",
    "IdentityProvider",
    "MAX_SESSION_SECONDS",
    "MIN_SESSION_SECONDS",
    "Membership",
    "SESSION_NAME_MAX",
    "SESSION_PRESETS",
    "SignInDomain",
    "SignInDomainQuerySet",
    "Team",
    "Tenant",
    "TenantOwnQuerySet",
    "User",
    "UserManager",
    "UserQuerySet",
    "new_external_id",
    "session_name_base",
    "session_seconds_validators",
]
