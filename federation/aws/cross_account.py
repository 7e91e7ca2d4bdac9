"""The way into a tenant's accounts other than the broker's own: its administration role there,
assumed with the tenant's ExternalId, and clients on that role's short-lived credentials
kept in memory for a few minutes."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.views.decorators.debug import sensitive_variables

from core.arns import RoleArn
from federation.aws.clients import (
    _account_clients,
    _client,
    _config,
    _lock,
    _session,
    caller_identity,
    region_for,
)
from federation.aws.errors import AccountUnreachable, RoleRefused
from federation.aws.sts import assume_role


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


# Administration sessions are the shortest AWS issues, and reused until a few minutes
# before they end: enough for a page's calls, never kept anywhere but in memory.
ADMINISTRATION_SESSION_SECONDS = 900
ADMINISTRATION_SESSION_NAME = "portcullis"
ADMINISTRATION_REUSE_MARGIN = timedelta(minutes=5)
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
