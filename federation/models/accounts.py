"""The tenant's AWS accounts: a name for each, shown wherever its id is."""

from django.core.validators import RegexValidator
from django.db import models

from core.scoping import TenantScopedQuerySet, scoped_managers


class AwsAccount(models.Model):
    """A name for one of the tenant's AWS accounts, shown wherever its id is: "Production"
    says more than 123456789012."""

    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="aws_accounts"
    )
    account_id = models.CharField(
        "account ID",
        max_length=12,
        validators=[RegexValidator(r"^\d{12}$", "An AWS account ID is 12 digits.")],
    )
    name = models.CharField(max_length=100)

    objects, rows = scoped_managers(TenantScopedQuerySet)

    class Meta:
        default_manager_name = "rows"
        verbose_name = "AWS account"
        ordering = ["tenant__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "account_id"], name="federation_awsaccount_unique"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.account_id})"


def account_names(user):
    """{(tenant id, account id): name} of the accounts in `user`'s tenants."""
    return {
        (tenant_id, account_id): name
        for tenant_id, account_id, name in AwsAccount.objects.for_user(user)
        .order_by()  # a lookup: the default order by tenant name would join the tenants
        .values_list("tenant_id", "account_id", "name")
    }
