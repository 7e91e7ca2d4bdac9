"""The tenant's AWS accounts: the directory of their names, and the way into those that
are not the portal's own."""

from accounts.models import Tenant
from federation import aws
from federation.models import AwsAccount, RoleMapping


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
            accounts.setdefault(aws.RoleArn.parse(arn).account_id, "")
        except ValueError:
            continue
    return [(account_id, name or account_id) for account_id, name in accounts.items()]
