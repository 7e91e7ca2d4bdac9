import html
import json
import re

import boto3
import requests

from audit.models import AuditEvent


def open_console(client, grant, **choices):
    data = {"duration": "", "destination": "", "region": ""}
    data.update({k: str(v) for k, v in choices.items()})
    return client.post(f"/console/{grant.pk if hasattr(grant, 'pk') else grant}/", data)


def console_url(response):
    match = re.search(
        r'id="console-url" class="mono url" value="([^"]+)"', response.content.decode()
    )
    return html.unescape(match.group(1)) if match else None


def follow(url):
    """Open a console URL the way a browser would (it points at the loopback sandbox)."""
    return requests.get(url, timeout=10)


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# --- a second AWS account in the sandbox ----------------------------------------------------

BROKER_ACCOUNT = "123456789012"  # moto's default account: the portal's own
CUSTOMER_ACCOUNT = "222222222222"
ADMINISTRATION_ROLE = "PortcullisAdministration"


def iam_in(sandbox, account_id, service="iam"):
    """A client that sets up the sandbox as another AWS account (moto's x-moto-account-id
    header), the way a customer prepares their own account. Not the portal's door."""
    client = boto3.client(
        service,
        endpoint_url=sandbox.url,
        region_name="us-east-1",
        aws_access_key_id="customer-setup",
        aws_secret_access_key="customer-setup",
    )

    def in_account(request, **_):
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign.*.*", in_account)
    return client


def trusting_the_portal(tenant=None):
    """A trust policy letting the portal's account in, demanding the tenant's ExternalId
    (none demanded without a tenant)."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{BROKER_ACCOUNT}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
    }
    if tenant is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": tenant.external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def make_role(iam, name, *, trust, max_session_seconds=3600, actions=("s3:ListAllMyBuckets",)):
    """A role in the account `iam` acts in; returns its ARN."""
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
        MaxSessionDuration=max_session_seconds,
    )["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
    ]}  # fmt: skip
    iam.put_role_policy(RoleName=name, PolicyName="Permissions", PolicyDocument=json.dumps(policy))
    return arn
