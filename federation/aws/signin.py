"""The federation endpoint (getSigninToken) and the console's sign-in and destination URLs."""

import json
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from core.arns import partition_of_region
from federation.aws.clients import PARTITIONS, http, sts_client
from federation.aws.errors import UNAVAILABLE_MESSAGE, RoleRefused, UpstreamUnavailable
from federation.aws.sts import Credentials
from federation.metrics import timed_aws_call


def endpoint_hosts() -> tuple[str | None, str | None]:
    """The STS and federation hosts the portal would talk to now (for the demo's check)."""
    return (
        urlsplit(sts_client().meta.endpoint_url).hostname,
        urlsplit(federation_endpoint("aws")).hostname,
    )


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


@timed_aws_call("signin:getSigninToken")
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
