"""The sandbox AWS is safe to leave running on a laptop: nothing a web page can reach. And
it ends a person's sessions as AWS does when the role's inline policy says so."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
import time_machine
from botocore.exceptions import ClientError
from django.utils import timezone

from audit.records import RequestMeta
from core.arns import RoleArn
from federation import aws, services
from sandbox import app as sandbox_module
from tests.federation.helpers import follow

EVIL = "http://evil.example"


def test_it_refuses_cors_preflights_and_sends_no_cors_headers(sandbox):
    preflight = requests.options(
        f"{sandbox.url}/",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=5,
    )
    assert preflight.status_code == 403
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("path", "data", "content_type"),
    [
        ("/", "Action=ListRoles&Version=2010-05-08", "application/x-www-form-urlencoded"),
        ("/_sandbox/faults", '{"sts": "throttle"}', "text/plain"),
        ("/moto-api/reset", "", "text/plain"),
    ],
)
def test_a_web_page_on_another_origin_changes_nothing(sandbox, path, data, content_type):
    response = requests.post(
        f"{sandbox.url}{path}",
        data=data,
        headers={"Origin": EVIL, "Content-Type": content_type},
        timeout=5,
    )
    assert response.status_code == 403
    assert sandbox.faults == {}
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_faults_are_set_only_as_json(sandbox):
    as_form = requests.post(f"{sandbox.url}/_sandbox/faults", data='{"sts": "throttle"}', timeout=5)
    assert as_form.status_code == 415 and sandbox.faults == {}
    broken = requests.post(
        f"{sandbox.url}/_sandbox/faults",
        data="{",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert broken.status_code == 400
    ok = requests.post(f"{sandbox.url}/_sandbox/faults", json={"sts": "throttle"}, timeout=5)
    assert ok.status_code == 200 and sandbox.faults == {"sts": "throttle"}


def test_it_answers_only_to_a_loopback_host(sandbox):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name.
    rebound = requests.get(
        f"{sandbox.url}/_sandbox/faults", headers={"Host": "evil.example:5055"}, timeout=5
    )
    assert rebound.status_code == 403
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).status_code == 200


def test_moto_api_is_not_served(sandbox):
    assert requests.post(f"{sandbox.url}/moto-api/reset", timeout=5).status_code == 404


def test_it_listens_on_loopback_only():
    with pytest.raises(ValueError, match="loopback only"):
        sandbox_module.serve("0.0.0.0", 0)  # noqa: S104 - the address it must refuse


# --- per-person ended access: PortcullisEndedAccess -----------------------------------------


def end_access(role_arn, person, before):
    """What the portal puts on the role when a person's access window ends early."""
    stamp = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = {
        "Sid": f"Ended{person.capitalize()}1T{before.astimezone(UTC):%Y%m%dT%H%M%S}",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceIdentity": person},
            "DateLessThan": {"aws:TokenIssueTime": stamp},
        },
    }
    aws.iam_client().put_role_policy(
        RoleName=RoleArn.parse(role_arn).name,
        PolicyName="PortcullisEndedAccess",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def console(user, grant):
    return services.issue_console_url(user=user, grant_id=grant.pk, meta=RequestMeta())


def credentials(user, grant):
    return services.issue_cli_credentials(
        user=user, grant_id=grant.pk, meta=RequestMeta()
    ).credentials


def client_for(service, sandbox, creds):
    return boto3.client(
        service,
        endpoint_url=sandbox.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
    )


def access_denied(call):
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response
    assert error["Error"]["Code"] == "AccessDenied"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    return error["Error"]["Message"]


@pytest.fixture
def alice_grant(world, bob_grant):
    """Alice may assume the same role: another person, another SourceIdentity."""
    return services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.alice,
        role_arn=bob_grant.role_arn,
        label="Acme admin",
    )


@pytest.mark.django_db
def test_the_console_refuses_a_session_whose_access_ended(world, bob_grant, alice_grant, sandbox):
    bobs_old = console(world.bob, bob_grant).console_url
    alices = console(world.alice, alice_grant).console_url
    ended_at = end_access(bob_grant.role_arn, "bob", timezone.now() + timedelta(seconds=1))

    denied = follow(bobs_old)
    assert denied.status_code == 403
    assert "access for bob ended at" in denied.text
    assert f"{ended_at:%Y-%m-%d %H:%M:%S} UTC" in denied.text
    assert "PortcullisEndedAccess" in denied.text
    # Another person's session of the same role, issued before, is still served.
    other = follow(alices)
    assert other.status_code == 200
    assert '<dd id="source-identity">alice</dd>' in other.text
    # A session issued after the statement's time opens the console.
    with time_machine.travel(ended_at + timedelta(seconds=1), tick=True):
        fresh = follow(console(world.bob, bob_grant).console_url)
    assert fresh.status_code == 200
    assert '<dd id="source-identity">bob</dd>' in fresh.text


@pytest.mark.django_db
def test_sts_and_iam_refuse_the_old_credentials_of_a_person_whose_access_ended(
    world, bob_grant, alice_grant, sandbox
):
    old = credentials(world.bob, bob_grant)
    alices = credentials(world.alice, alice_grant)
    ended_at = end_access(bob_grant.role_arn, "bob", timezone.now() + timedelta(seconds=1))
    role_name = RoleArn.parse(bob_grant.role_arn).name
    chain = {
        "RoleArn": bob_grant.role_arn,
        "RoleSessionName": "chained",
        "ExternalId": world.tenant_a.external_id,
    }

    # Role chaining and IAM calls with bob's old credentials: an explicit deny.
    message = access_denied(lambda: client_for("sts", sandbox, old).assume_role(**chain))
    assert "assumed-role/AcmeAdmin/bob is not authorized to perform: sts:AssumeRole" in message
    assert "explicit deny" in message
    message = access_denied(lambda: client_for("iam", sandbox, old).get_role(RoleName=role_name))
    assert "iam:GetRole" in message
    # GetCallerIdentity needs no permission: AWS answers it even to a denied session.
    identity = client_for("sts", sandbox, old).get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/AcmeAdmin/bob")

    # Alice's session, and the broker's own keys, are unaffected.
    assert client_for("iam", sandbox, alices).get_role(RoleName=role_name)["Role"]["RoleName"]
    assert aws.caller_identity()[1].endswith(":user/moto")
    assert aws.get_role_arn(role_name) == bob_grant.role_arn

    # New credentials, issued after the statement's time, work; so does chaining from them,
    # and the chained session keeps bob's SourceIdentity (as AWS keeps it).
    with time_machine.travel(ended_at + timedelta(seconds=1), tick=True):
        new = credentials(world.bob, bob_grant)
        sts = client_for("sts", sandbox, new)
        assert sts.get_caller_identity()["Arn"].endswith(":assumed-role/AcmeAdmin/bob")
        chained = sts.assume_role(**chain)
        assert client_for("iam", sandbox, new).get_role(RoleName=role_name)
    assert chained["SourceIdentity"] == "bob"
    assert sandbox.sessions[chained["Credentials"]["AccessKeyId"]].source_identity == "bob"


@pytest.mark.django_db
def test_revoke_older_sessions_is_enforced_on_sts_too(world, bob_grant, sandbox):
    old = credentials(world.bob, bob_grant)
    aws.revoke_older_sessions(
        role_arn=bob_grant.role_arn, issued_before=timezone.now() + timedelta(seconds=1)
    )
    role_name = RoleArn.parse(bob_grant.role_arn).name
    message = access_denied(lambda: client_for("iam", sandbox, old).get_role(RoleName=role_name))
    assert "AWSRevokeOlderSessions" in message
