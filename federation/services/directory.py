"""The tenant's AWS accounts: the directory of their names (filled by hand, or from AWS
Organizations), and the way into those that are not the portal's own."""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Tenant, User
from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core.arns import RoleArn
from federation import aws
from federation.models import AwsAccount, RoleMapping
from federation.services.errors import NoManagementAccount, PortalsOwnAccount, TenantNotFound


def administration_role(tenant: Tenant) -> aws.AdministrationRole | None:
    """How the portal reaches IAM in the tenant's accounts other than its own: the role the
    tenant names there, assumed with the tenant's ExternalId. None when it names none."""
    if not tenant.administration_role_name:
        return None
    return aws.AdministrationRole(
        name=tenant.administration_role_name, external_id=tenant.external_id
    )


def known_accounts(tenant: Tenant) -> list[tuple[str, str]]:
    """(account id, name) of the tenant's accounts: its directory, then the accounts of its
    grants that the directory does not name (by id)."""
    accounts = dict(
        AwsAccount.objects.unscoped("the tenant the caller may manage")
        .filter(tenant=tenant)
        .order_by("name")
        .values_list("account_id", "name")
    )
    arns = (
        RoleMapping.objects.unscoped("the tenant the caller may manage")
        .filter(tenant=tenant)
        .values_list("role_arn", flat=True)
        .distinct()
    )
    for arn in arns:
        try:
            accounts.setdefault(RoleArn.parse(arn).account_id, "")
        except ValueError:
            continue
    return [(account_id, name or account_id) for account_id, name in accounts.items()]


@dataclass(frozen=True)
class Filled:
    """What filling the directory from AWS Organizations did."""

    added: int
    renamed: int
    unchanged: int


def fill_from_organizations(*, actor: User, tenant: Tenant, meta: RequestMeta) -> Filled:
    """Name the tenant's AWS accounts as its AWS Organizations organization names them
    (organizations:ListAccounts in its management account, through its administration role
    unless that is the portal's own account): accounts new to the directory are added,
    names that differ are taken from there, and the record says how many of each.

    Raises TenantNotFound (not a tenant `actor` runs), NoManagementAccount, or AwsError
    (nothing changed).
    """
    managed = Tenant.objects.for_user(actor, action="manage").filter(pk=tenant.pk).first()
    if managed is None:
        raise TenantNotFound
    tenant = managed
    if not tenant.management_account_id:
        raise NoManagementAccount(
            f"{tenant.name} names no AWS Organizations management account: set it on the "
            "tenant's page first."
        )
    partition = aws.home_partition()
    if not actor.is_superuser and tenant.management_account_id == aws.caller_identity(partition)[0]:
        # The portal's own credentials would read the operator's organization for a tenant.
        raise PortalsOwnAccount
    found = aws.organization_accounts(
        management_account_id=tenant.management_account_id,
        partition=partition,
        via=administration_role(tenant),
    )
    added = renamed = unchanged = 0
    with transaction.atomic():
        directory = {
            account.account_id: account
            for account in AwsAccount.objects.for_user(actor, action="manage")
            .filter(tenant=tenant)
            .select_for_update()
        }
        for member in found:
            name = (member.name or member.account_id)[
                : AwsAccount._meta.get_field("name").max_length
            ]
            account = directory.get(member.account_id)
            if account is None:
                account = AwsAccount(tenant=tenant, account_id=member.account_id, name=name)
                account.full_clean()
                account.save()
                directory[member.account_id] = account
                added += 1
            elif account.name != name:
                account.name = name
                account.save(update_fields=["name"])
                renamed += 1
            else:
                unchanged += 1
        record(
            AuditEvent.Action.AWS_ACCOUNTS_FILLED,
            actor=actor,
            tenant=tenant,
            meta=meta,
            detail=f"from AWS Organizations in {tenant.management_account_id}: {added} added, "
            f"{renamed} renamed, {unchanged} unchanged",
        )
    return Filled(added=added, renamed=renamed, unchanged=unchanged)
