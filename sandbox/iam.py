"""IAM as the sandbox needs it: trust policies evaluated as AWS evaluates them (moto does
not), the roles moto holds, and AWS's managed policies loaded one at a time."""

import functools
import json
import re

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends

from federation.aws import RoleArn


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _action_matches(patterns, action):
    for pattern in _as_list(patterns):
        regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*") + "$"
        if re.match(regex, action.lower()):
            return True
    return False


def _principal_matches(principal, candidates):
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(p == "*" or p in candidates for p in _as_list(principal.get("AWS")))
    return False


def _conditions_hold(conditions, context):
    """StringEquals / StringLike on request keys; an operator or key it cannot judge fails."""
    for operator, clauses in (conditions or {}).items():
        if operator not in {"StringEquals", "StringLike"}:
            return False
        for key, expected in clauses.items():
            actual = context.get(key.lower())
            if actual is None:
                return False
            options = _as_list(expected)
            if operator == "StringEquals" and actual not in options:
                return False
            if operator == "StringLike" and not any(
                re.fullmatch(re.escape(o).replace(r"\*", ".*").replace(r"\?", "."), actual)
                for o in options
            ):
                return False
    return True


def trust_allows(document, action, candidates, context):
    """Evaluate a role trust policy for one action: an explicit Deny wins, then any Allow."""
    allowed = False
    for statement in _as_list(document.get("Statement")):
        if not _action_matches(statement.get("Action"), action):
            continue
        if not _principal_matches(statement.get("Principal"), candidates):
            continue
        if not _conditions_hold(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def moto_role(arn):
    """The role moto holds under this ARN, or None (no such role, or not a role ARN)."""
    try:
        parsed = RoleArn.parse(arn)
        return iam_backends[parsed.account_id][parsed.partition].get_role_by_arn(arn)
    except Exception:  # ValueError for a bad ARN, moto's own for an unknown role
        return None


@functools.cache
def _aws_managed_policies():
    return json.loads(aws_managed_policies_data)


def load_aws_managed_policy(arn):
    """Give moto the AWS managed policy this ARN names (ReadOnlyAccess...), if AWS has it.

    moto loads AWS's 1,500 managed policies only when told to, which makes every reset
    slow; the sandbox adds the one a call names, so `create_broker_role
    --managed-policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess` works as it does on AWS.
    """
    match = re.fullmatch(r"arn:(aws[\w-]*):iam::aws:policy/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)", arn)
    data = _aws_managed_policies().get(match[2]) if match else None
    if data is None:
        return
    backend = iam_backends[DEFAULT_ACCOUNT_ID][match[1]]
    if arn not in backend.managed_policies:
        policy = AWSManagedPolicy.from_data(match[2], DEFAULT_ACCOUNT_ID, backend.region_name, data)
        if policy.arn == arn:
            backend.managed_policies[arn] = policy
