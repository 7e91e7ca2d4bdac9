"""AWS Organizations: the accounts of a tenant's organization, for its account directory."""

from dataclasses import dataclass

import botocore.exceptions

from federation.aws.cross_account import AdministrationRole, client_in_account
from federation.aws.errors import (
    BOTO_ERRORS,
    UNAVAILABLE_MESSAGE,
    RoleRefused,
    UpstreamUnavailable,
    _translate,
)
from federation.metrics import timed_aws_call

# Organizations answers in pages too; an organization of more accounts is read in part.
ORGANIZATION_PAGE = 20
ORGANIZATION_LIMIT = 2000


@dataclass(frozen=True)
class OrganizationAccount:
    """One member account as organizations:ListAccounts gives it."""

    account_id: str
    name: str
    status: str


@timed_aws_call("organizations:ListAccounts")
def organization_accounts(
    *, management_account_id: str, partition: str, via: AdministrationRole | None = None
) -> list[OrganizationAccount]:
    """The accounts of the organization `management_account_id` manages (ListAccounts,
    page by page, at most ORGANIZATION_LIMIT). Raises RoleRefused (not in an organization,
    not its management account, or not allowed), AccountUnreachable or
    UpstreamUnavailable."""
    client = client_in_account(
        "organizations", partition=partition, account_id=management_account_id, via=via
    )
    try:
        pages = client.get_paginator("list_accounts").paginate(
            PaginationConfig={"MaxItems": ORGANIZATION_LIMIT, "PageSize": ORGANIZATION_PAGE}
        )
        return [
            OrganizationAccount(
                account_id=found["Id"], name=found.get("Name", ""), status=found.get("Status", "")
            )
            for page in pages
            for found in page.get("Accounts", [])
        ]
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
        if code == "AWSOrganizationsNotInUseException":
            raise RoleRefused(
                f"Account {management_account_id} is in no AWS Organizations organization.",
                code=code,
                aws_request_id=request_id,
            ) from None
        if code in {"AccessDenied", "AccessDeniedException"}:
            raise RoleRefused(
                f"AWS refused organizations:ListAccounts in account {management_account_id}: "
                "it must be the organization's management account, and the portal's role "
                "there must allow it.",
                code=code,
                aws_request_id=request_id,
            ) from None
        raise _translate(error) from None
    except BOTO_ERRORS as error:
        raise _translate(error) from None
    except (KeyError, TypeError):
        raise UpstreamUnavailable(UNAVAILABLE_MESSAGE, code="MalformedResponse") from None
