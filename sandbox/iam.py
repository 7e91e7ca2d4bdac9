"""IAM as the sandbox needs it: trust policies and a role's inline Deny statements
evaluated as AWS evaluates them (moto does neither), the roles moto holds, and AWS's
managed policies loaded one at a time."""

import functools
import json
import re
from datetime import UTC, datetime

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends

from sandbox.arns import role_of


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


DATE_OPERATORS = {
    "DateEquals": lambda actual, expected: actual == expected,
    "DateNotEquals": lambda actual, expected: actual != expected,
    "DateLessThan": lambda actual, expected: actual < expected,
    "DateLessThanEquals": lambda actual, expected: actual <= expected,
    "DateGreaterThan": lambda actual, expected: actual > expected,
    "DateGreaterThanEquals": lambda actual, expected: actual >= expected,
}


def _date(value):
    """An IAM date condition value (ISO 8601, or epoch seconds) as a UTC datetime, or None."""
    try:
        if isinstance(value, int | float) or str(value).isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _conditions_hold(conditions, context):
    """StringEquals / StringLike on request keys, and the Date operators on date keys
    (datetimes in `context`); an operator or key it cannot judge fails."""
    for operator, clauses in (conditions or {}).items():
        if operator not in {"StringEquals", "StringLike", *DATE_OPERATORS}:
            return False
        for key, expected in clauses.items():
            actual = context.get(key.lower())
            if actual is None:
                return False
            options = _as_list(expected)
            if operator in DATE_OPERATORS:
                dates = [_date(option) for option in options]
                if not isinstance(actual, datetime) or not any(
                    d is not None and DATE_OPERATORS[operator](actual, d) for d in dates
                ):
                    return False
                continue
            if not isinstance(actual, str):
                return False
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


def denied_by_inline_policies(role_arn, source_identity, issued_at, action="*"):
    """Why the role's inline policies deny a session of it `action`, or None.

    Evaluates, as AWS does for every request of the session, each Deny statement of the
    role's inline policies whose Resource is "*" against the session's aws:SourceIdentity
    and aws:TokenIssueTime: AWSRevokeOlderSessions ("Revoke active sessions") and the
    portal's per-person PortcullisEndedAccess statements among them. The default action
    "*" (the console: everything) matches only statements that deny every action. A
    statement with a condition it cannot judge does not apply. Allows are not evaluated.
    """
    role = moto_role(role_arn)
    if role is None:
        return None
    context = {"aws:tokenissuetime": issued_at}
    if source_identity:
        context["aws:sourceidentity"] = source_identity
    for policy_name, document in sorted(role.policies.items()):
        try:
            statements = _as_list(json.loads(document).get("Statement"))
        except (ValueError, AttributeError):
            continue
        for statement in statements:
            if (
                not isinstance(statement, dict)
                or statement.get("Effect") != "Deny"
                or "*" not in _as_list(statement.get("Resource"))
                or not _action_matches(statement.get("Action"), action)
                or not _conditions_hold(statement.get("Condition"), context)
            ):
                continue
            return _denial(policy_name, statement)
    return None


def _condition_value(conditions, operator, key):
    clauses = (conditions or {}).get(operator) or {}
    return next((value for name, value in clauses.items() if name.lower() == key), None)


def _denial(policy_name, statement):
    """A sentence naming whose access the statement ends, from when, and where it is."""
    conditions = statement.get("Condition")
    before = _date(_condition_value(conditions, "DateLessThan", "aws:tokenissuetime") or "")
    people = _as_list(_condition_value(conditions, "StringEquals", "aws:sourceidentity"))
    named = f"{policy_name}, statement {statement['Sid']}" if statement.get("Sid") else policy_name
    when = f"{before:%Y-%m-%d %H:%M:%S} UTC" if before else ""
    if people:
        ended = f"ended at {when}" if when else "was ended"
        return f"access for {', '.join(map(str, people))} {ended} ({named})."
    if when:
        return f"this role's sessions issued before {when} were revoked ({named})."
    return f"an explicit deny in the role's inline policy {named}."


def moto_role(arn):
    """The role moto holds under this ARN, or None (no such role, or not a role ARN)."""
    parsed = role_of(arn)
    if parsed is None:
        return None
    try:
        return iam_backends[parsed.account_id][parsed.partition].get_role_by_arn(arn)
    except Exception:  # moto's own for an unknown role
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
