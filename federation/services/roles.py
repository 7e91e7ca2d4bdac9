"""Creating an IAM role the portal may assume for a tenant (create_broker_role)."""

import json
from collections.abc import Iterable
from typing import Any

from accounts.models import Tenant
from federation import aws


def broker_trust_policy(*, principal: str, external_id: str) -> dict[str, Any]:
    """A least-privilege trust policy: only the broker, only with the tenant's ExternalId.

    It allows the three actions the portal performs when it assumes the role:
    AssumeRole itself, setting SourceIdentity and tagging the session.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PortcullisBroker",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def create_broker_role(
    *,
    name: str,
    tenant: Tenant,
    principal: str = "",
    partition: str = "aws",
    max_session_seconds: int = 43200,
    policy_document: str = "",
    managed_policy_arns: Iterable[str] = (),
) -> str:
    """Create an IAM role the portal can assume for `tenant`; returns its ARN.

    `principal` defaults to the root of the account whose credentials the portal runs on.
    Permissions come from `policy_document` (JSON) and/or `managed_policy_arns`; there is
    no all-permissive default.
    """
    if not policy_document and not managed_policy_arns:
        raise ValueError("Give the role permissions: a policy document or a managed policy ARN.")
    if policy_document:
        try:
            document = json.loads(policy_document)
        except ValueError:
            raise ValueError("The policy document is not valid JSON.") from None
        if not isinstance(document, dict) or "Statement" not in document:
            raise ValueError("The policy document is a JSON object with a Statement.")
    if not principal:
        account_id, _ = aws.caller_identity()
        principal = f"arn:{partition}:iam::{account_id}:root"
    return aws.create_role(
        name=name,
        partition=partition,
        trust_policy=broker_trust_policy(principal=principal, external_id=tenant.external_id),
        max_session_seconds=max_session_seconds,
        inline_policy=policy_document,
        managed_policy_arns=managed_policy_arns,
    )
