"""The broker's boto3 session and clients (one per service and partition, bounded by timeouts
and botocore's `standard` retries), the HTTP session for the federation endpoint, the
partitions and their regions, and who the broker is: its identity and whether its
credentials resolve."""

import threading
import time
from datetime import datetime
from typing import Any, TypedDict

import boto3
import requests
from botocore.config import Config
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from core.arns import partition_of_region
from federation.aws.errors import BOTO_ERRORS, BROKER_MESSAGE, BrokerMisconfigured, _translate
from federation.metrics import timed_aws_call


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


_lock = threading.Lock()
_boto_session = None
_clients: dict[tuple[str, str], Any] = {}
_http: requests.Session | None = None
# partition → (account id, ARN) of the broker's own credentials.
_identities: dict[str, tuple[str, str]] = {}
# (service, administration role ARN, ExternalId) → (client on its credentials, reuse until).
_account_clients: dict[tuple[str, str, str], tuple[Any, datetime]] = {}


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


def available_regions(partition: str) -> list[str]:
    """The regions of a partition, from botocore's bundled data (no network)."""
    return sorted(_session().get_available_regions("ec2", partition_name=partition))


@timed_aws_call("sts:GetCallerIdentity")
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


def home_partition() -> str:
    """The partition of the portal's configured region (its own accounts are there)."""
    return partition_of_region(_session().region_name or "us-east-1")


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
