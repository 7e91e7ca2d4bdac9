"""Ending sessions in IAM: every live session of a role (AWSRevokeOlderSessions), or one
person's sessions of a role (the ended-access statement)."""

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.arns import RoleArn
from federation.aws.cross_account import AdministrationRole, _iam_for
from federation.aws.errors import BOTO_ERRORS, AwsError, _translate_iam
from federation.aws.iam import _policy_document
from federation.metrics import timed_aws_call

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


@timed_aws_call("iam:PutRolePolicy")
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


@timed_aws_call("iam:PutRolePolicy")
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


@timed_aws_call("iam:PutRolePolicy")
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
