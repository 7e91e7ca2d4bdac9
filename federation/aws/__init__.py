"""The one door to AWS.

Only this package imports boto3 or sends HTTP to AWS. It keeps one boto3 session, one STS
and IAM client per partition and one HTTP session per process, bounds every call with
explicit timeouts and botocore's `standard` retries, and answers with small dataclasses
or the portal's own exceptions (`RoleRefused`, `AccountUnreachable`, `UpstreamUnavailable`,
`BrokerMisconfigured`). Nothing here logs or stores a credential, a token or a URL.

IAM (and Organizations) is read and written in the account that holds the role: with the
broker's own credentials in the broker's account, and in a tenant's other accounts with
short-lived credentials of the tenant's administration role there (`AdministrationRole`),
kept in memory for a few minutes.

Endpoints come from boto3's own configuration (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
regions, the credential chain); this package never passes an `endpoint_url` that would
override them. The federation endpoint is AWS's own for the role's partition unless
AWS_FEDERATION_ENDPOINT names another (the sandbox).

A package of one subject a module (`errors`, `clients`, `sts`, `signin`, `cross_account`,
`iam`, `organizations`, `revocation`); the rest of the portal reaches them through this
door, as `aws.assume_role(...)`.
"""

from federation.aws.clients import (
    CREDENTIALS_CHECK_SECONDS,
    PARTITIONS,
    PartitionInfo,
    available_regions,
    broker_credentials_status,
    broker_uses_temporary_credentials,
    caller_identity,
    home_partition,
    http,
    iam_client,
    region_for,
    reset_clients,
    sts_client,
)
from federation.aws.cross_account import (
    ADMINISTRATION_REUSE_MARGIN,
    ADMINISTRATION_SESSION_NAME,
    ADMINISTRATION_SESSION_SECONDS,
    SERVICE_NAMES,
    AdministrationRole,
    client_in_account,
)
from federation.aws.errors import (
    BOTO_ERRORS,
    BROKER_ERROR_CODES,
    BROKER_MESSAGE,
    UNAVAILABLE_MESSAGE,
    USER_MESSAGES,
    AccountUnreachable,
    AwsError,
    BrokerMisconfigured,
    RoleRefused,
    UpstreamUnavailable,
)
from federation.aws.iam import (
    ROLE_LIST_LIMIT,
    ROLE_LIST_PAGE,
    RoleFacts,
    RoleList,
    RoleSummary,
    create_role,
    describe_role,
    get_role_arn,
    list_roles,
    role_trust_policy,
)
from federation.aws.organizations import (
    ORGANIZATION_LIMIT,
    ORGANIZATION_PAGE,
    OrganizationAccount,
    organization_accounts,
)
from federation.aws.revocation import (
    ENDED_ACCESS_POLICY_NAME,
    INLINE_POLICY_QUOTA,
    REVOKE_POLICY_NAME,
    PolicyQuotaExceeded,
    add_ended_access_statement,
    ended_access_sid,
    ended_access_statement,
    remove_ended_access_statements,
    revoke_older_sessions,
    revoke_older_sessions_policy,
)
from federation.aws.signin import (
    console_destination,
    endpoint_hosts,
    federation_endpoint,
    get_signin_token,
    is_console_url,
    login_url,
)
from federation.aws.sts import (
    CHAINED_SESSION_LIMIT,
    AssumedRole,
    Credentials,
    assume_role,
)

__all__ = [
    "ADMINISTRATION_REUSE_MARGIN",
    "ADMINISTRATION_SESSION_NAME",
    "ADMINISTRATION_SESSION_SECONDS",
    "AccountUnreachable",
    "AdministrationRole",
    "AssumedRole",
    "AwsError",
    "BOTO_ERRORS",
    "BROKER_ERROR_CODES",
    "BROKER_MESSAGE",
    "BrokerMisconfigured",
    "CHAINED_SESSION_LIMIT",
    "CREDENTIALS_CHECK_SECONDS",
    "Credentials",
    "ENDED_ACCESS_POLICY_NAME",
    "INLINE_POLICY_QUOTA",
    "ORGANIZATION_LIMIT",
    "ORGANIZATION_PAGE",
    "OrganizationAccount",
    "PARTITIONS",
    "PartitionInfo",
    "PolicyQuotaExceeded",
    "REVOKE_POLICY_NAME",
    "ROLE_LIST_LIMIT",
    "ROLE_LIST_PAGE",
    "RoleFacts",
    "RoleList",
    "RoleRefused",
    "RoleSummary",
    "SERVICE_NAMES",
    "UNAVAILABLE_MESSAGE",
    "USER_MESSAGES",
    "UpstreamUnavailable",
    "add_ended_access_statement",
    "assume_role",
    "available_regions",
    "broker_credentials_status",
    "broker_uses_temporary_credentials",
    "caller_identity",
    "client_in_account",
    "console_destination",
    "create_role",
    "describe_role",
    "ended_access_sid",
    "ended_access_statement",
    "endpoint_hosts",
    "federation_endpoint",
    "get_role_arn",
    "get_signin_token",
    "home_partition",
    "http",
    "iam_client",
    "is_console_url",
    "list_roles",
    "login_url",
    "organization_accounts",
    "region_for",
    "remove_ended_access_statements",
    "reset_clients",
    "revoke_older_sessions",
    "revoke_older_sessions_policy",
    "role_trust_policy",
    "sts_client",
]
