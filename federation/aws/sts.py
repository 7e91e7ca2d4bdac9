"""STS AssumeRole: a role session for a grant, or for the tenant's administration role."""

from dataclasses import dataclass, field
from datetime import datetime

from django.views.decorators.debug import sensitive_variables

from core.arns import RoleArn
from federation.aws.clients import sts_client
from federation.aws.errors import BOTO_ERRORS, UNAVAILABLE_MESSAGE, UpstreamUnavailable, _translate
from federation.metrics import timed_aws_call

# The longest session STS grants to credentials that are themselves temporary.
CHAINED_SESSION_LIMIT = 3600


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime


@dataclass(frozen=True)
class AssumedRole:
    credentials: Credentials
    assumed_role_arn: str
    aws_request_id: str
    source_identity: str = ""


@timed_aws_call("sts:AssumeRole")
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
