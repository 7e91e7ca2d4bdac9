"""IAM roles: creating one the portal may assume for a tenant (create_broker_role), and
finding those in the tenant's accounts a grant could use (role_picker)."""

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from accounts.models import Tenant
from federation import aws
from federation.services.directory import administration_role, known_accounts
from federation.services.grants import requires_external_id

# Roles change rarely and the grant page is opened often: ask IAM at most this often.
ROLE_LIST_CACHE_SECONDS = 300
# Accounts read for one page, so a tenant with many accounts never waits on all of them.
ROLE_LIST_ACCOUNTS = 12
# The page waits at most about this long for AWS (plus the one account being read then),
# and a failed listing is asked again only after a short while.
ROLE_LIST_BUDGET_SECONDS = 8
ROLE_LIST_RETRY_SECONDS = 30


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


@dataclass(frozen=True)
class RoleChoice:
    arn: str
    label: str  # "Production · Deploy"


@dataclass(frozen=True)
class RolePicker:
    """The roles offered beside the typed ARN when granting, and quiet notes on the
    accounts whose roles could not be listed."""

    choices: list[RoleChoice]
    notes: list[str]


@dataclass(frozen=True)
class _Listed:
    """One account's roles a grant could use, as (name, ARN), or why there are none."""

    roles: tuple[tuple[str, str], ...] = ()
    truncated: bool = False
    note: str = ""


def _listed(tenant: Tenant, account_id: str) -> _Listed:
    """The roles of one account a grant in this tenant could use (their trust policy
    demands the tenant's ExternalId; the administration role is not one), or why they
    could not be listed. Cached briefly, for the tenant and its way in."""
    via = administration_role(tenant)
    # The ExternalId picks the roles: it goes into the key hashed, not as it is.
    salt = hashlib.sha256(f"{tenant.external_id}:{via.name if via else ''}".encode()).hexdigest()
    key = f"portcullis:roles:{tenant.pk}:{account_id}:{salt[:16]}"
    found = cache.get(key)
    if isinstance(found, _Listed):
        return found
    try:
        listed = aws.list_roles(partition=aws.home_partition(), account_id=account_id, via=via)
    except aws.AccountUnreachable:
        found = _Listed(note="name an administration role to see them")
    except aws.RoleRefused as error:
        permission = "iam:ListRoles" if "iam:ListRoles" in error.message else error.code
        found = _Listed(note=f"Portcullis may not list them ({permission})")
    except aws.AwsError as error:
        # Kept for a moment only: AWS may answer the next time, but a page reloaded while
        # it is slow should not wait for it again.
        found = _Listed(note=f"AWS did not answer ({error.code or 'no answer'})")
        cache.set(key, found, ROLE_LIST_RETRY_SECONDS)
        return found
    else:
        administration = via.name.rsplit("/", 1)[-1] if via else None
        found = _Listed(
            roles=tuple(
                sorted(
                    (role.name, role.arn)
                    for role in listed.roles
                    if role.name != administration
                    and requires_external_id(role.trust_policy, tenant.external_id)
                )
            ),
            truncated=listed.truncated,
        )
    cache.set(key, found, ROLE_LIST_CACHE_SECONDS)
    return found


def role_picker(tenants: Iterable[Tenant]) -> RolePicker:
    """The roles the portal can see in these tenants' known accounts that a grant could
    use, each named by its account (and tenant, when there are several); where listing is
    not permitted, a quiet note instead."""
    tenants = list(tenants)
    choices: list[RoleChoice] = []
    notes: list[str] = []
    if len(tenants) > ROLE_LIST_ACCOUNTS:
        # An operator of many tenants: asking every one of their accounts would be slow.
        return RolePicker([], ["Roles are offered where you run a few tenants: type the ARN."])
    read, started = 0, time.monotonic()
    for tenant in tenants:
        for account_id, name in known_accounts(tenant):
            if read == ROLE_LIST_ACCOUNTS:
                notes.append("Roles in further accounts are not listed: type the ARN.")
                return RolePicker(choices, notes)
            if time.monotonic() - started > ROLE_LIST_BUDGET_SECONDS:
                notes.append("AWS is slow to answer: roles in further accounts are not listed.")
                return RolePicker(choices, notes)
            read += 1
            found = _listed(tenant, account_id)
            where = f"{name} ({account_id})" if name != account_id else account_id
            owner = f"{tenant.name}: " if len(tenants) > 1 else ""
            if found.note:
                notes.append(f"Roles in {owner}{where} are not listed: {found.note}.")
                continue
            choices += [
                RoleChoice(arn=arn, label=f"{owner}{name} · {role_name}")
                for role_name, arn in found.roles
            ]
            if found.truncated:
                notes.append(f"{owner}{where} holds more roles than are listed: type the ARN.")
    return RolePicker(choices, notes)
