"""IAM: making the broker's roles, listing the roles a tenant may grant, and reading a role as
IAM has it (its trust policy and MaxSessionDuration)."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from core.arns import RoleArn
from federation.aws.clients import iam_client
from federation.aws.cross_account import AdministrationRole, _iam_for, client_in_account
from federation.aws.errors import (
    BOTO_ERRORS,
    UNAVAILABLE_MESSAGE,
    RoleRefused,
    UpstreamUnavailable,
    _translate,
    _translate_iam,
)
from federation.metrics import timed_aws_call


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


@timed_aws_call("iam:ListRoles")
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


def get_role_arn(name: str, partition: str = "aws") -> str | None:
    """The ARN of an existing role, or None."""
    iam = iam_client(partition)
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return None
    except BOTO_ERRORS as error:
        raise _translate(error) from None


@dataclass(frozen=True)
class RoleFacts:
    """What IAM says of a role (iam:GetRole), read in the account that holds it."""

    arn: str
    trust_policy: dict[str, Any]
    max_session_seconds: int


@timed_aws_call("iam:GetRole")
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


def _policy_document(document: Any) -> dict[str, Any]:
    # boto3 decodes the URL-encoded JSON; some endpoints leave it a string.
    return json.loads(unquote(document)) if isinstance(document, str) else document
