"""The tenant's AWS accounts: the way into those that are not the portal's own."""

from accounts.models import Tenant
from federation import aws


def administration_role(tenant: Tenant) -> aws.AdministrationRole | None:
    """How the portal reaches IAM in the tenant's accounts other than its own: the role the
    tenant names there, assumed with the tenant's ExternalId. None when it names none."""
    if not tenant.administration_role_name:
        return None
    return aws.AdministrationRole(
        name=tenant.administration_role_name, external_id=tenant.external_id
    )
