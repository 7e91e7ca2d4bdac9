"""The one door to AWS.

Only this module imports boto3 or sends HTTP to AWS. It keeps one boto3 session, one STS
and IAM client per partition and one HTTP session per process, bounds every call with
explicit timeouts and botocore's `standard` retries, and answers with small dataclasses
or the portal's own exceptions (`RoleRefused`, `AccountUnreachable`, `UpstreamUnavailable`,
`BrokerMisconfigured`). Nothing here logs or stores a credential, a token or a URL.

IAM (and Organizations) is read and written in the account that holds the role: with the
broker's own credentials in the broker's account, and in a tenant's other accounts with
short-lived credentials of the tenant's administration role there (`AdministrationRole`),
kept in memory for a few minutes.

Endpoints come from boto3's own configuration (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
regions, the credential chain); this module never passes an `endpoint_url` that would
override them. The federation endpoint is AWS's own for the role's partition unless
AWS_FEDERATION_ENDPOINT names another (the sandbox).
"""

import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import unquote, urlencode, urlsplit

import boto3
import botocore.exceptions
import requests
from botocore.config import Config
from botocore.parsers import ResponseParserError
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core import metrics
from core.arns import RoleArn, partition_of_region
from core.errors import PortalError


class PartitionInfo(TypedDict):
    home_region: str
    signin_domain: str
    console_domain: str
    regional_console: bool


PARTITIONS: dict[str, PartitionInfo] = {
    "aws": {
        "home_region": "us-east-1",
        "signin_domain": "signin.aws.amazon.com",
        "console_domain": "console.aws.amazon.com",
        "regional_console": True,
    },
    "aws-us-gov": {
        "home_region": "us-gov-west-1",
        "signin_domain": "signin.amazonaws-us-gov.com",
        "console_domain": "console.amazonaws-us-gov.com",
        "regional_console": False,
    },
    "aws-cn": {
        "home_region": "cn-north-1",
        "signin_domain": "signin.amazonaws.cn",
        "console_domain": "console.amazonaws.cn",
        "regional_console": False,
    },
}

# What a botocore call can raise: its own errors, AWS's answers, and unparseable replies.
BOTO_ERRORS = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    ResponseParserError,
)

# The longest session STS grants to credentials that are themselves temporary.
CHAINED_SESSION_LIMIT = 3600

USER_MESSAGES = {
    "AccessDenied": "AWS refused to let the portal assume this role (trust policy or external id).",
    "RegionDisabledException": "AWS STS is not enabled in the portal's region for this account.",
    "MalformedPolicyDocument": "AWS rejected this grant's session policy as malformed.",
    "PackedPolicyTooLarge": "AWS rejected the session: its policy and tags are too large.",
}
BROKER_ERROR_CODES = {
    "ExpiredToken",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
}
UNAVAILABLE_MESSAGE = "AWS is not answering, try again in a moment."
BROKER_MESSAGE = (
    "The portal's own AWS credentials are missing, invalid or expired. Tell your administrator."
)


class AwsError(PortalError):
    """An AWS call did not give the portal what it asked for."""

    status = 502
    title = "AWS did not issue a session"

    def __init__(self, message: str, *, code: str = "", aws_request_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.aws_request_id = aws_request_id


class RoleRefused(AwsError):
    """AWS answered and said no (trust policy, external id, duration, policy...)."""

    status = 502


class UpstreamUnavailable(AwsError):
    """AWS did not answer usefully: down, slow, throttling, 5xx, a malformed answer."""

    status = 503


class BrokerMisconfigured(UpstreamUnavailable):
    """The portal's own AWS credentials are missing, invalid or expired."""


class AccountUnreachable(RoleRefused):
    """The portal has no way into the account that holds the role: the tenant names no
    administration role, or AWS refused the portal the one it names."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime


@dataclass(frozen=True)
class AdministrationRole:
    """The way into a tenant's AWS accounts other than the broker's own: a role of this
    name (with its path, if any) in each of them that trusts the portal and demands the
    tenant's ExternalId. The portal reads and writes IAM there with it; it never hands its
    sessions to anyone."""

    name: str
    external_id: str

    def arn(self, *, partition: str, account_id: str) -> str:
        return f"arn:{partition}:iam::{account_id}:role/{self.name.strip('/')}"


@dataclass(frozen=True)
class AssumedRole:
    credentials: Credentials
    assumed_role_arn: str
    aws_request_id: str
    source_identity: str = ""


# --- clients ------------------------------------------------------------------------------

_lock = threading.Lock()
_boto_session = None
_clients: dict[tuple[str, str], Any] = {}
_http: requests.Session | None = None
# partition → (account id, ARN) of the broker's own credentials.
_identities: dict[str, tuple[str, str]] = {}
# (service, administration role ARN, ExternalId) → (client on its credentials, reuse until).
_account_clients: dict[tuple[str, str, str], tuple[Any, datetime]] = {}

# Administration sessions are the shortest AWS issues, and reused until a few minutes
# before they end: enough for a page's calls, never kept anywhere but in memory.
ADMINISTRATION_SESSION_SECONDS = 900
ADMINISTRATION_SESSION_NAME = "portcullis"
ADMINISTRATION_REUSE_MARGIN = timedelta(minutes=5)


def reset_clients() -> None:
    """Forget the cached session, clients and identity (after configuration changed, and
    in tests)."""
    global _boto_session, _http, _credentials_checked
    with _lock:
        _boto_session = None
        _credentials_checked = None
        _clients.clear()
        _identities.clear()
        _account_clients.clear()
        if _http is not None:
            _http.close()
        _http = None


def _session() -> boto3.session.Session:
    global _boto_session
    if _boto_session is None:
        _boto_session = boto3.session.Session()
    return _boto_session


def region_for(partition: str) -> str:
    """The configured region when it is in the partition, else the partition's home region."""
    configured = _session().region_name
    if configured and partition_of_region(configured) == partition:
        return configured
    return PARTITIONS[partition]["home_region"]


def _config() -> Config:
    return Config(
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": settings.AWS_MAX_ATTEMPTS},
    )


def _client(service: str, partition: str) -> Any:
    key = (service, partition)
    with _lock:
        if key not in _clients:
            _clients[key] = _session().client(
                service, region_name=region_for(partition), config=_config()
            )
        return _clients[key]


def sts_client(partition: str = "aws") -> Any:
    return _client("sts", partition)


def iam_client(partition: str = "aws") -> Any:
    return _client("iam", partition)


def http() -> requests.Session:
    global _http
    with _lock:
        if _http is None:
            retry = Retry(
                total=settings.AWS_MAX_ATTEMPTS - 1,
                connect=settings.AWS_MAX_ATTEMPTS - 1,
                read=False,  # a read timeout already cost its full wait: raise it at once
                status=settings.AWS_MAX_ATTEMPTS - 1,
                status_forcelist=(500, 502, 503, 504),
                allowed_methods=frozenset({"POST"}),
                backoff_factor=0.2,
                raise_on_status=False,
            )
            _http = requests.Session()
            _http.mount("https://", HTTPAdapter(max_retries=retry))
            _http.mount("http://", HTTPAdapter(max_retries=retry))
        return _http


def endpoint_hosts() -> tuple[str | None, str | None]:
    """The STS and federation hosts the portal would talk to now (for the demo's check)."""
    return (
        urlsplit(sts_client().meta.endpoint_url).hostname,
        urlsplit(federation_endpoint("aws")).hostname,
    )


def broker_uses_temporary_credentials() -> bool:
    """True when the portal's own credentials are temporary, making every session chained.

    Credentials from an assumed role, ECS/EKS task role or AWS_SESSION_TOKEN are temporary;
    AWS then caps AssumeRole at one hour and refuses SessionDuration at getSigninToken.
    EC2 instance-profile credentials are temporary too but AWS exempts them.
    """
    credentials = _session().get_credentials()
    if credentials is None:
        raise BrokerMisconfigured(BROKER_MESSAGE, code="NoCredentials")
    frozen = credentials.get_frozen_credentials()
    return bool(frozen.token) and getattr(credentials, "method", "") != "iam-role"


# --- errors -------------------------------------------------------------------------------


def _translate(error: Exception) -> AwsError:
    """botocore's exceptions → the portal's, with a message fit for the person waiting."""
    if isinstance(error, botocore.exceptions.ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code", "")
        request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in BROKER_ERROR_CODES:
            return BrokerMisconfigured(BROKER_MESSAGE, code=code, aws_request_id=request_id)
        if code == "ValidationError":
            detail = info.get("Message", "").strip()
            message = (
                f"AWS rejected the request: {detail}" if detail else "AWS rejected the request."
            )
            return RoleRefused(message, code=code, aws_request_id=request_id)
        if code in USER_MESSAGES:
            return RoleRefused(USER_MESSAGES[code], code=code, aws_request_id=request_id)
        if 400 <= status < 500 and "Throttl" not in code:
            return RoleRefused(
                f"AWS refused the request ({code}).", code=code, aws_request_id=request_id
            )
        return UpstreamUnavailable(
            UNAVAILABLE_MESSAGE, code=code or f"HTTP{status}", aws_request_id=request_id
        )
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return BrokerMisconfigured(BROKER_MESSAGE, code="NoCredentials")
    if isinstance(
        error, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError
    ):
        return UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="Timeout")
    if isinstance(error, ResponseParserError):
        return UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="MalformedResponse")
    return UpstreamUnavailable(UNAVAILABLE_MESSAGE, code=type(error).__name__)


# --- STS ----------------------------------------------------------------------------------


@metrics.timed_aws_call("sts:AssumeRole")
@sensitive_variables("response", "raw")
def assume_role(
    *,
    role: RoleArn,
    session_name: str,
    duration_seconds: int,
    external_id: str,
    source_identity: str = "",
    tags: dict[str, str] | None = None,
    policy: str = "",
) -> AssumedRole:
    """STS AssumeRole. Returns an AssumedRole; raises RoleRefused or UpstreamUnavailable."""
    partition = role.partition
    params = {
        "RoleArn": role.arn,
        "RoleSessionName": session_name,
        "DurationSeconds": duration_seconds,
        "ExternalId": external_id,
    }
    if source_identity:
        params["SourceIdentity"] = source_identity
    if tags:
        params["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    if policy:
        params["Policy"] = policy
    try:
        response = sts_client(partition).assume_role(**params)
    except BOTO_ERRORS as error:
        raise _translate(error) from None
    try:
        raw = response["Credentials"]
        credentials = Credentials(
            access_key_id=raw["AccessKeyId"],
            secret_access_key=raw["SecretAccessKey"],
            session_token=raw["SessionToken"],
            expiration=raw["Expiration"],
        )
        assumed_role_arn = response["AssumedRoleUser"]["Arn"]
    except (KeyError, TypeError):
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="MalformedResponse") from None
    return AssumedRole(
        credentials=credentials,
        assumed_role_arn=assumed_role_arn,
        aws_request_id=response.get("ResponseMetadata", {}).get("RequestId", ""),
        source_identity=response.get("SourceIdentity", ""),
    )


# --- federation endpoint and console URLs ---------------------------------------------------


def _regional_host(partition: str, region: str) -> str:
    """`<region>.<domain>` for a region other than the partition's home, else the domain."""
    domain = PARTITIONS[partition]["signin_domain"]
    if region and region != PARTITIONS[partition]["home_region"]:
        return f"{region}.{domain}"
    return domain


def federation_endpoint(partition: str) -> str:
    if settings.AWS_FEDERATION_ENDPOINT:
        return settings.AWS_FEDERATION_ENDPOINT
    region = settings.AWS_SIGNIN_REGION
    if region and partition_of_region(region) != partition:
        region = ""
    return f"https://{_regional_host(partition, region)}/federation"


@metrics.timed_aws_call("signin:getSigninToken")
@sensitive_variables("credentials", "session", "data", "payload")
def get_signin_token(
    credentials: Credentials, *, partition: str, session_duration: int | None = None
) -> str:
    """Exchange temporary credentials for a console sign-in token (a form POST).

    `session_duration` is sent only when given: AWS refuses it for role-chained sessions.
    """
    session = json.dumps(
        {
            "sessionId": credentials.access_key_id,
            "sessionKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token,
        }
    )
    data = {"Action": "getSigninToken", "Session": session}
    if session_duration is not None:
        data["SessionDuration"] = str(session_duration)
    try:
        response = http().post(
            federation_endpoint(partition),
            data=data,
            timeout=(settings.AWS_CONNECT_TIMEOUT, settings.AWS_READ_TIMEOUT),
        )
    except requests.Timeout:
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="FederationTimeout") from None
    except requests.RequestException:
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="FederationUnreachable") from None
    if 400 <= response.status_code < 500:
        raise RoleRefused(
            f"The AWS sign-in endpoint refused the session (HTTP {response.status_code}).",
            code=f"Federation{response.status_code}",
        )
    if response.status_code != 200:
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code=f"Federation{response.status_code}")
    try:
        payload = response.json()
        token = payload["SigninToken"]
    except (ValueError, KeyError, TypeError):
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="FederationNoSigninToken") from None
    if not isinstance(token, str) or not token:
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="FederationNoSigninToken")
    return token


def console_destination(partition: str, *, path: str = "/console/home", region: str = "") -> str:
    """The console URL a person lands on: `path` (a service's home) in `region`."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError("A console path starts with a single '/'.")
    info = PARTITIONS[partition]
    host = info["console_domain"]
    if region and info["regional_console"]:
        host = f"{region}.{host}"
    url = f"https://{host}{path}"
    if region and "region=" not in path:
        url += ("&" if "?" in path else "?") + urlencode({"region": region})
    return url


def is_console_url(url: str, partition: str) -> bool:
    """True when `url` is on the partition's console domain (a valid Destination)."""
    parts = urlsplit(url)
    domain = PARTITIONS[partition]["console_domain"]
    host = parts.hostname or ""
    return parts.scheme == "https" and (host == domain or host.endswith("." + domain))


@sensitive_variables("signin_token", "login")
def login_url(
    *,
    partition: str,
    signin_token: str,
    destination: str,
    issuer: str,
    sign_out_first: bool = False,
) -> str:
    """The console sign-in URL: a bearer credential for 15 minutes. Never log or store it."""
    if not is_console_url(destination, partition):
        raise ValueError("The destination is not on this partition's AWS console.")
    endpoint = federation_endpoint(partition)
    query = urlencode(
        {
            "Action": "login",
            "Issuer": issuer,
            "Destination": destination,
            "SigninToken": signin_token,
        }
    )
    login = f"{endpoint}?{query}"
    if not sign_out_first:
        return login
    logout = endpoint.rsplit("/federation", 1)[0] + "/oauth"
    return f"{logout}?{urlencode({'Action': 'logout', 'redirect_uri': login})}"


def available_regions(partition: str) -> list[str]:
    """The regions of a partition, from botocore's bundled data (no network)."""
    return sorted(_session().get_available_regions("ec2", partition_name=partition))


# --- IAM ----------------------------------------------------------------------------------


@metrics.timed_aws_call("sts:GetCallerIdentity")
def _ask_caller_identity(partition: str) -> tuple[str, str]:
    try:
        response = sts_client(partition).get_caller_identity()
    except BOTO_ERRORS as error:
        raise _translate(error) from None
    return response["Account"], response["Arn"]


def caller_identity(partition: str = "aws") -> tuple[str, str]:
    """The broker's own identity: (account id, ARN), asked once per process."""
    with _lock:
        known = _identities.get(partition)
    if known is not None:
        return known
    identity = _ask_caller_identity(partition)
    with _lock:
        _identities[partition] = identity
    return identity


SERVICE_NAMES = {"iam": "IAM", "organizations": "AWS Organizations"}


@sensitive_variables("assumed", "credentials")
def client_in_account(
    service: str, *, partition: str, account_id: str, via: AdministrationRole | None
) -> Any:
    """A client of `service` acting in `account_id`: on the broker's own credentials in
    the broker's account, else on those of the tenant's administration role there.

    Raises AccountUnreachable when the tenant names no administration role or AWS refuses
    the portal that role; UpstreamUnavailable when AWS does not answer.
    """
    own_account, _ = caller_identity(partition)
    if account_id == own_account:
        return _client(service, partition)
    what = SERVICE_NAMES.get(service, service)
    if via is None or not via.name:
        raise AccountUnreachable(
            f"Portcullis cannot reach {what} in account {account_id}: name an administration "
            "role (a role in each of the tenant's accounts that trusts the portal and demands "
            "the tenant's ExternalId).",
            code="NoAdministrationRole",
        )
    role_arn = via.arn(partition=partition, account_id=account_id)
    key = (service, role_arn, via.external_id)
    now = datetime.now(UTC)
    with _lock:
        cached = _account_clients.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    try:
        assumed = assume_role(
            role=RoleArn.parse(role_arn),
            session_name=ADMINISTRATION_SESSION_NAME,
            duration_seconds=ADMINISTRATION_SESSION_SECONDS,
            external_id=via.external_id,
        )
    except RoleRefused as error:
        raise AccountUnreachable(
            f"Portcullis cannot reach {what} in account {account_id}: AWS refused it the "
            f"administration role {role_arn} ({error.code or 'refused'}). The role must trust "
            "the portal and demand the tenant's ExternalId.",
            code=error.code,
            aws_request_id=error.aws_request_id,
        ) from None
    credentials = assumed.credentials
    region = region_for(partition)
    with _lock:  # a boto3 session makes one client at a time (threaded workers)
        client = _session().client(
            service,
            region_name=region,
            config=_config(),
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )
        _account_clients[key] = (client, credentials.expiration - ADMINISTRATION_REUSE_MARGIN)
    return client


def _iam_for(role: "RoleArn", via: AdministrationRole | None) -> Any:
    return client_in_account("iam", partition=role.partition, account_id=role.account_id, via=via)


def create_role(
    *,
    name: str,
    partition: str,
    trust_policy: dict[str, Any],
    max_session_seconds: int,
    inline_policy: str = "",
    managed_policy_arns: Iterable[str] = (),
) -> str:
    """Create a role with its trust policy and permissions; undo the role if a step fails."""
    iam = iam_client(partition)
    try:
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy),
            MaxSessionDuration=max_session_seconds,
            Description="Assumed by Portcullis for its users' console and CLI sessions.",
        )["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        raise RoleRefused(
            f"A role named {name} already exists.", code="EntityAlreadyExists"
        ) from None
    except BOTO_ERRORS as error:
        raise _translate(error) from None
    try:
        if inline_policy:
            iam.put_role_policy(
                RoleName=name, PolicyName=f"{name}Permissions", PolicyDocument=inline_policy
            )
        for arn in managed_policy_arns:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    except BOTO_ERRORS as error:
        _delete_role(iam, name)
        raise _translate(error) from None
    return role["Arn"]


def _delete_role(iam: Any, name: str) -> None:
    for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)


# ListRoles answers in pages; the picker reads a bounded number of roles per account.
ROLE_LIST_PAGE = 100
ROLE_LIST_LIMIT = 1000


@dataclass(frozen=True)
class RoleSummary:
    """One role as iam:ListRoles gives it."""

    arn: str
    name: str
    trust_policy: dict[str, Any]
    max_session_seconds: int


@dataclass(frozen=True)
class RoleList:
    roles: list[RoleSummary]
    truncated: bool  # the account holds more roles than were read


@metrics.timed_aws_call("iam:ListRoles")
def list_roles(
    *, partition: str, account_id: str, via: AdministrationRole | None = None
) -> RoleList:
    """The roles of an account (iam:ListRoles, page by page, at most ROLE_LIST_LIMIT).
    Raises RoleRefused (naming the missing permission), AccountUnreachable or
    UpstreamUnavailable."""
    iam = client_in_account("iam", partition=partition, account_id=account_id, via=via)
    roles: list[RoleSummary] = []
    truncated = False
    try:
        pages = iam.get_paginator("list_roles").paginate(
            PaginationConfig={"MaxItems": ROLE_LIST_LIMIT, "PageSize": ROLE_LIST_PAGE}
        )
        for page in pages:
            for found in page.get("Roles", []):
                roles.append(
                    RoleSummary(
                        arn=found["Arn"],
                        name=found["RoleName"],
                        trust_policy=_policy_document(found.get("AssumeRolePolicyDocument") or {}),
                        max_session_seconds=int(found.get("MaxSessionDuration") or 3600),
                    )
                )
            truncated = bool(page.get("NextToken") or page.get("IsTruncated"))
    except BOTO_ERRORS as error:
        raise _translate_iam(error, "iam:ListRoles") from None
    except (KeyError, TypeError):
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="MalformedResponse") from None
    return RoleList(roles=roles, truncated=truncated)


# Organizations answers in pages too; an organization of more accounts is read in part.
ORGANIZATION_PAGE = 20
ORGANIZATION_LIMIT = 2000


@dataclass(frozen=True)
class OrganizationAccount:
    """One member account as organizations:ListAccounts gives it."""

    account_id: str
    name: str
    status: str


@metrics.timed_aws_call("organizations:ListAccounts")
def organization_accounts(
    *, management_account_id: str, partition: str, via: AdministrationRole | None = None
) -> list[OrganizationAccount]:
    """The accounts of the organization `management_account_id` manages (ListAccounts,
    page by page, at most ORGANIZATION_LIMIT). Raises RoleRefused (not in an organization,
    not its management account, or not allowed), AccountUnreachable or
    UpstreamUnavailable."""
    client = client_in_account(
        "organizations", partition=partition, account_id=management_account_id, via=via
    )
    try:
        pages = client.get_paginator("list_accounts").paginate(
            PaginationConfig={"MaxItems": ORGANIZATION_LIMIT, "PageSize": ORGANIZATION_PAGE}
        )
        return [
            OrganizationAccount(
                account_id=found["Id"], name=found.get("Name", ""), status=found.get("Status", "")
            )
            for page in pages
            for found in page.get("Accounts", [])
        ]
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
        if code == "AWSOrganizationsNotInUseException":
            raise RoleRefused(
                f"Account {management_account_id} is in no AWS Organizations organization.",
                code=code,
                aws_request_id=request_id,
            ) from None
        if code in {"AccessDenied", "AccessDeniedException"}:
            raise RoleRefused(
                f"AWS refused organizations:ListAccounts in account {management_account_id}: "
                "it must be the organization's management account, and the portal's role "
                "there must allow it.",
                code=code,
                aws_request_id=request_id,
            ) from None
        raise _translate(error) from None
    except BOTO_ERRORS as error:
        raise _translate(error) from None
    except (KeyError, TypeError):
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="MalformedResponse") from None


def home_partition() -> str:
    """The partition of the portal's configured region (its own accounts are there)."""
    return partition_of_region(_session().region_name or "us-east-1")


def get_role_arn(name: str, partition: str = "aws") -> str | None:
    """The ARN of an existing role, or None."""
    iam = iam_client(partition)
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return None
    except BOTO_ERRORS as error:
        raise _translate(error) from None


# --- revoking sessions ----------------------------------------------------------------------

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"


def revoke_older_sessions_policy(issued_before: datetime) -> dict[str, Any]:
    """The inline policy AWS's own "Revoke active sessions" puts on a role."""
    return {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": issued_before.astimezone(UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    )
                }
            },
        },
    }


@dataclass(frozen=True)
class RoleFacts:
    """What IAM says of a role (iam:GetRole), read in the account that holds it."""

    arn: str
    trust_policy: dict[str, Any]
    max_session_seconds: int


@metrics.timed_aws_call("iam:GetRole")
def describe_role(role_arn: str, *, via: AdministrationRole | None = None) -> RoleFacts:
    """The role's ARN as IAM has it, its trust policy and MaxSessionDuration. Raises
    RoleRefused (no such role, or the portal may not read it), AccountUnreachable or
    UpstreamUnavailable."""
    role = RoleArn.parse(role_arn)
    try:
        found = _iam_for(role, via).get_role(RoleName=role.name)["Role"]
    except BOTO_ERRORS as error:
        raise _translate_iam(error, "iam:GetRole") from None
    return RoleFacts(
        arn=found.get("Arn", role_arn),
        trust_policy=_policy_document(found["AssumeRolePolicyDocument"]),
        max_session_seconds=int(found.get("MaxSessionDuration") or 3600),
    )


def role_trust_policy(role_arn: str, *, via: AdministrationRole | None = None) -> dict[str, Any]:
    """The role's trust policy document (a dict)."""
    return describe_role(role_arn, via=via).trust_policy


@metrics.timed_aws_call("iam:PutRolePolicy")
def revoke_older_sessions(
    *, role_arn: str, issued_before: datetime, via: AdministrationRole | None = None
) -> None:
    """Deny everything to the role's sessions issued before `issued_before` (iam:PutRolePolicy)."""
    role = RoleArn.parse(role_arn)
    try:
        _iam_for(role, via).put_role_policy(
            RoleName=role.name,
            PolicyName=REVOKE_POLICY_NAME,
            PolicyDocument=json.dumps(revoke_older_sessions_policy(issued_before)),
        )
    except BOTO_ERRORS as error:
        raise _translate_iam(error, "iam:PutRolePolicy") from None


def _translate_iam(error: Exception, permission: str) -> AwsError:
    translated = _translate(error)
    if translated.code in {"AccessDenied", "AccessDeniedException"}:
        return RoleRefused(
            f"AWS refused: Portcullis lacks {permission} on this role.",
            code=translated.code,
            aws_request_id=translated.aws_request_id,
        )
    if translated.code == "NoSuchEntity":
        return RoleRefused("AWS has no role with this ARN.", code=translated.code)
    return translated


# --- ending one person's access -------------------------------------------------------------

ENDED_ACCESS_POLICY_NAME = "PortcullisEndedAccess"
# IAM's quota on the aggregate size of a role's inline policies, counted without whitespace.
INLINE_POLICY_QUOTA = 10240


class PolicyQuotaExceeded(AwsError):
    """The role's inline policies have no room left for another statement."""

    status = 502
    title = "The role's inline policies are full"

    def __init__(self, *, aws_request_id: str = "") -> None:
        super().__init__(
            f"The role's inline policies are full: AWS allows {INLINE_POLICY_QUOTA:,} "
            f"characters across them, and another statement in {ENDED_ACCESS_POLICY_NAME} "
            "would pass that.",
            code="LimitExceeded",
            aws_request_id=aws_request_id,
        )


def _iam_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ended_access_statement(
    *, sid: str, source_identity: str, issued_before: datetime
) -> dict[str, Any]:
    """A statement denying everything to one person's sessions issued before a moment
    (everyone's, when `source_identity` is empty)."""
    condition: dict[str, Any] = {"DateLessThan": {"aws:TokenIssueTime": _iam_stamp(issued_before)}}
    if source_identity:
        condition = {"StringEquals": {"aws:SourceIdentity": source_identity}, **condition}
    return {"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}


def ended_access_sid(session_name: str, request_id: int, issued_before: datetime) -> str:
    """An IAM Sid (letters and digits only): "EndedBob42T20261125T101500"."""
    name = re.sub(r"[^A-Za-z0-9]", "", session_name)[:32]
    stamp = issued_before.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"Ended{name[:1].upper()}{name[1:]}{int(request_id)}T{stamp}"


def _policy_size(document: dict[str, Any]) -> int:
    """The size IAM counts against INLINE_POLICY_QUOTA: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def _policy_document(document: Any) -> dict[str, Any]:
    # boto3 decodes the URL-encoded JSON; some endpoints leave it a string.
    return json.loads(unquote(document)) if isinstance(document, str) else document


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


def _role_policy(iam: Any, role_name: str, policy_name: str) -> dict[str, Any] | None:
    """An inline policy of the role (a dict), or None when the role has none by that name."""
    try:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None
    except BOTO_ERRORS as error:
        raise _translate_iam(error, "iam:GetRolePolicy") from None
    return _policy_document(document)


def _other_inline_policies_size(iam: Any, role_name: str) -> int:
    """The size of the role's inline policies other than PortcullisEndedAccess."""
    try:
        names = [
            name
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name)
            for name in page.get("PolicyNames", [])
        ]
    except BOTO_ERRORS as error:
        raise _translate_iam(error, "iam:ListRolePolicies") from None
    total = 0
    for name in names:
        if name == ENDED_ACCESS_POLICY_NAME:
            continue
        document = _role_policy(iam, role_name, name)
        total += _policy_size(document) if document is not None else 0
    return total


@metrics.timed_aws_call("iam:PutRolePolicy")
def add_ended_access_statement(
    *,
    role_arn: str,
    statement: dict[str, Any],
    replace_all: bool = False,
    via: AdministrationRole | None = None,
) -> None:
    """Put `statement` in the role's PortcullisEndedAccess policy, replacing one with its Sid
    (or, with `replace_all`, every statement there: a statement for everyone covers them).

    Raises PolicyQuotaExceeded, leaving the role as it was, when the role's inline policies
    would pass IAM's aggregate quota; RoleRefused (naming the missing permission) or
    UpstreamUnavailable otherwise.
    """
    role = RoleArn.parse(role_arn)
    iam = _iam_for(role, via)
    document = _role_policy(iam, role.name, ENDED_ACCESS_POLICY_NAME) or {
        "Version": "2012-10-17",
        "Statement": [],
    }
    statements = [] if replace_all else _statements(document)
    sids = [existing.get("Sid") for existing in statements]
    if statement["Sid"] in sids:
        statements[sids.index(statement["Sid"])] = statement
    else:
        statements.append(statement)
    document["Statement"] = statements
    if _other_inline_policies_size(iam, role.name) + _policy_size(document) > INLINE_POLICY_QUOTA:
        raise PolicyQuotaExceeded()
    try:
        iam.put_role_policy(
            RoleName=role.name,
            PolicyName=ENDED_ACCESS_POLICY_NAME,
            PolicyDocument=json.dumps(document, separators=(",", ":")),
        )
    except BOTO_ERRORS as error:
        translated = _translate_iam(error, "iam:PutRolePolicy")
        if translated.code == "LimitExceeded":  # AWS counted otherwise, or a race
            raise PolicyQuotaExceeded(aws_request_id=translated.aws_request_id) from None
        raise translated from None


@metrics.timed_aws_call("iam:PutRolePolicy")
def remove_ended_access_statements(
    *, role_arn: str, sids: Iterable[str], via: AdministrationRole | None = None
) -> None:
    """Drop these statements from the role's PortcullisEndedAccess policy, and the policy
    once it has none left. A role or policy that is gone leaves nothing to prune."""
    role = RoleArn.parse(role_arn)
    iam = _iam_for(role, via)
    document = _role_policy(iam, role.name, ENDED_ACCESS_POLICY_NAME)
    if document is None:
        return
    gone = set(sids)
    statements = _statements(document)
    kept = [statement for statement in statements if statement.get("Sid") not in gone]
    if len(kept) == len(statements):
        return
    try:
        if kept:
            document["Statement"] = kept
            iam.put_role_policy(
                RoleName=role.name,
                PolicyName=ENDED_ACCESS_POLICY_NAME,
                PolicyDocument=json.dumps(document, separators=(",", ":")),
            )
        else:
            iam.delete_role_policy(RoleName=role.name, PolicyName=ENDED_ACCESS_POLICY_NAME)
    except iam.exceptions.NoSuchEntityException:
        return
    except BOTO_ERRORS as error:
        permission = "iam:PutRolePolicy" if kept else "iam:DeleteRolePolicy"
        raise _translate_iam(error, permission) from None


# --- the broker's own credentials, for readiness --------------------------------------------

# Resolving credentials may ask the instance metadata service or STS (a profile that assumes
# a role): a readiness probe asks at most this often.
CREDENTIALS_CHECK_SECONDS = 60
_credentials_checked: tuple[float, bool, str] | None = None


def broker_credentials_status() -> tuple[bool, str]:
    """(whether boto3 finds the portal's own AWS credentials, a short description), looked
    up at most once every CREDENTIALS_CHECK_SECONDS. Never the credentials themselves."""
    global _credentials_checked
    now = time.monotonic()
    with _lock:
        checked = _credentials_checked
    if checked is not None and now - checked[0] < CREDENTIALS_CHECK_SECONDS:
        return checked[1], checked[2]
    try:
        credentials = _session().get_credentials()
        found = credentials is not None and bool(credentials.get_frozen_credentials().access_key)
        status = (found, "credentials resolve" if found else "no credentials found")
    except Exception as error:  # a broken profile, an unreachable metadata service...
        status = (False, f"credentials do not resolve ({type(error).__name__})")
    with _lock:
        _credentials_checked = (now, *status)
    return status
