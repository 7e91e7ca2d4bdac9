"""Who may assume which AWS role (grants), personal API tokens and the tenant's AWS accounts:
the federation app's models, a module a subject."""

from federation.models.accounts import (
    AwsAccount,
    account_names,
)
from federation.models.grants import (
    CONSOLE_SERVICES,
    ESCALATION_PRESETS,
    MAX_ACTIVATION_SECONDS,
    MAX_APPROVALS,
    MIN_ACTIVATION_SECONDS,
    SESSION_POLICY_MAX_CHARS,
    WINDOW_PRESETS,
    Favourite,
    FavouriteQuerySet,
    RoleMapping,
    RoleMappingQuerySet,
    approval_policy_errors,
    approved_by,
    validate_role_arn,
    validate_session_policy,
)
from federation.models.tokens import (
    TOKEN_PREFIX,
    ApiToken,
    ApiTokenQuerySet,
    hash_token,
)

__all__ = [
    "ApiToken",
    "ApiTokenQuerySet",
    "AwsAccount",
    "CONSOLE_SERVICES",
    "ESCALATION_PRESETS",
    "Favourite",
    "FavouriteQuerySet",
    "MAX_ACTIVATION_SECONDS",
    "MAX_APPROVALS",
    "MIN_ACTIVATION_SECONDS",
    "RoleMapping",
    "RoleMappingQuerySet",
    "SESSION_POLICY_MAX_CHARS",
    "TOKEN_PREFIX",
    "WINDOW_PRESETS",
    "account_names",
    "approval_policy_errors",
    "approved_by",
    "hash_token",
    "validate_role_arn",
    "validate_session_policy",
]
