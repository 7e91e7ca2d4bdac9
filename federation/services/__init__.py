"""Use cases that change things, one module per subject: issuance (console URLs and CLI
credentials), grants, API tokens and IAM roles. Each service scopes what it touches to the
acting person, writes its audit record through `audit.records` and calls AWS only through
`federation.aws`; it takes the RequestMeta its caller built at the edge and raises the
portal's own exceptions (`core.errors.PortalError`), which carry their HTTP status.
"""

from federation.services.directory import (
    Filled,
    administration_role,
    fill_from_organizations,
    known_accounts,
)
from federation.services.errors import (
    AccessWindowRequired,
    AlreadyShown,
    GrantNotFound,
    NoManagementAccount,
    PortalsOwnAccount,
    TenantNotFound,
)
from federation.services.grants import (
    Granted,
    change_grant,
    check_role,
    delete_grantees,
    grant_role,
    grant_roles,
    requires_external_id,
    revoke_grant,
    revoke_role_sessions,
)
from federation.services.issuance import (
    DEFAULT_SESSION_SECONDS,
    IssuedSession,
    issue_cli_credentials,
    issue_console_url,
    session_limit,
    usable_grants,
)
from federation.services.refusals import (
    Choices,
    IssueKind,
    read_choices,
    refuse_choice,
    refuse_repeat,
)
from federation.services.roles import broker_trust_policy, create_broker_role, role_picker
from federation.services.tokens import create_token, revoke_token, revoke_tokens

__all__ = [
    "Filled",
    "NoManagementAccount",
    "PortalsOwnAccount",
    "TenantNotFound",
    "administration_role",
    "fill_from_organizations",
    "known_accounts",
    "check_role",
    "Granted",
    "AccessWindowRequired",
    "AlreadyShown",
    "DEFAULT_SESSION_SECONDS",
    "GrantNotFound",
    "Choices",
    "IssuedSession",
    "IssueKind",
    "broker_trust_policy",
    "change_grant",
    "create_broker_role",
    "create_token",
    "delete_grantees",
    "grant_role",
    "grant_roles",
    "issue_cli_credentials",
    "issue_console_url",
    "read_choices",
    "refuse_choice",
    "refuse_repeat",
    "requires_external_id",
    "revoke_grant",
    "revoke_role_sessions",
    "revoke_token",
    "revoke_tokens",
    "role_picker",
    "session_limit",
    "usable_grants",
]
