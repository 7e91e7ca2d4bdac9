"""The door to AWS: ARNs, endpoints and console URLs in all three partitions."""

import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from core.arns import RoleArn
from federation import aws


@pytest.mark.parametrize(
    ("arn", "partition", "account", "name"),
    [
        ("arn:aws:iam::123456789012:role/Admin", "aws", "123456789012", "Admin"),
        (
            "arn:aws-us-gov:iam::210987654321:role/ops/ReadOnly",
            "aws-us-gov",
            "210987654321",
            "ReadOnly",
        ),
        (
            "arn:aws-cn:iam::111122223333:role/a/b/Deploy+x=y,z.w@v-u",
            "aws-cn",
            "111122223333",
            "Deploy+x=y,z.w@v-u",
        ),
    ],
)
def test_it_parses_role_arns_of_every_partition(arn, partition, account, name):
    role = RoleArn.parse(arn)
    assert (role.partition, role.account_id, role.name) == (partition, account, name)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::12345678901:role/Short",
        "arn:aws:iam::123456789012:user/NotARole",
        "arn:aws-eu:iam::123456789012:role/Unknown",
        "arn:aws:sts::123456789012:role/Wrong",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/bad name",
    ],
)
def test_it_rejects_what_is_not_a_role_arn(arn):
    with pytest.raises(ValueError, match="IAM role ARN"):
        RoleArn.parse(arn)


@pytest.mark.parametrize(
    ("partition", "endpoint"),
    [
        ("aws", "https://signin.aws.amazon.com/federation"),
        ("aws-us-gov", "https://signin.amazonaws-us-gov.com/federation"),
        ("aws-cn", "https://signin.amazonaws.cn/federation"),
    ],
)
def test_it_uses_each_partitions_federation_endpoint(settings, partition, endpoint):
    settings.AWS_FEDERATION_ENDPOINT = ""
    settings.AWS_SIGNIN_REGION = ""
    assert aws.federation_endpoint(partition) == endpoint


def test_it_uses_a_regional_sign_in_host_when_configured(settings):
    settings.AWS_FEDERATION_ENDPOINT = ""
    settings.AWS_SIGNIN_REGION = "eu-central-1"
    assert aws.federation_endpoint("aws") == "https://eu-central-1.signin.aws.amazon.com/federation"
    # A region of another partition does not apply to this one.
    assert aws.federation_endpoint("aws-cn") == "https://signin.amazonaws.cn/federation"
    settings.AWS_SIGNIN_REGION = "us-east-1"
    assert aws.federation_endpoint("aws") == "https://signin.aws.amazon.com/federation"


@pytest.mark.parametrize(
    ("partition", "path", "region", "url"),
    [
        ("aws", "/console/home", "", "https://console.aws.amazon.com/console/home"),
        (
            "aws",
            "/ec2/home",
            "eu-west-1",
            "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1",
        ),
        (
            "aws-us-gov",
            "/s3/home",
            "us-gov-west-1",
            "https://console.amazonaws-us-gov.com/s3/home?region=us-gov-west-1",
        ),
        (
            "aws-cn",
            "/iam/home",
            "cn-north-1",
            "https://console.amazonaws.cn/iam/home?region=cn-north-1",
        ),
    ],
)
def test_it_builds_console_destinations(partition, path, region, url):
    assert aws.console_destination(partition, path=path, region=region) == url
    assert aws.is_console_url(url, partition)


def test_it_encodes_the_login_url_whole(settings):
    settings.AWS_FEDERATION_ENDPOINT = ""
    destination = "https://console.aws.amazon.com/ec2/home?region=eu-west-1#Instances:sort=id&x=1"
    url = aws.login_url(
        partition="aws",
        signin_token="tok/en+=",
        destination=destination,
        issuer="https://portal.example.com/",
    )
    parts = urlsplit(url)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://signin.aws.amazon.com/federation"
    )
    query = parse_qs(parts.query)
    assert query == {
        "Action": ["login"],
        "Issuer": ["https://portal.example.com/"],
        "Destination": [destination],
        "SigninToken": ["tok/en+="],
    }


def test_it_wraps_the_login_url_to_sign_out_first(settings):
    settings.AWS_FEDERATION_ENDPOINT = ""
    url = aws.login_url(
        partition="aws-us-gov",
        signin_token="t",
        issuer="https://p/",
        destination="https://console.amazonaws-us-gov.com/",
        sign_out_first=True,
    )
    parts = urlsplit(url)
    assert url.startswith("https://signin.amazonaws-us-gov.com/oauth?")
    redirect = parse_qs(parts.query)["redirect_uri"][0]
    assert parse_qs(parts.query)["Action"] == ["logout"]
    assert redirect.startswith("https://signin.amazonaws-us-gov.com/federation?Action=login&")


@pytest.mark.parametrize(
    "destination",
    [
        "https://evil.example/",
        "http://console.aws.amazon.com/",
        "https://console.amazonaws.cn/",
        "https://console.aws.amazon.com.evil.example/",
    ],
)
def test_it_refuses_a_destination_off_the_console(destination):
    with pytest.raises(ValueError):
        aws.login_url(partition="aws", signin_token="t", destination=destination, issuer="x")


# --- ending one person's access: PortcullisEndedAccess ------------------------------------

ENDED_AT = datetime(2026, 11, 25, 10, 15, 0, 500000, tzinfo=UTC)


def ended_policy(role_arn):
    role = RoleArn.parse(role_arn)
    return aws.iam_client().get_role_policy(
        RoleName=role.name, PolicyName=aws.ENDED_ACCESS_POLICY_NAME
    )["PolicyDocument"]


def ended(session_name, request_id, at=ENDED_AT):
    return aws.ended_access_statement(
        sid=aws.ended_access_sid(session_name, request_id, at),
        source_identity=session_name,
        issued_before=at,
    )


def test_it_builds_the_ended_access_statement_and_its_sid():
    at = datetime(2026, 11, 25, 11, 15, tzinfo=timezone(timedelta(hours=1)))
    assert aws.ended_access_sid("bob", 42, at) == "EndedBob42T20261125T101500"
    assert aws.ended_access_sid("ann-marie.o_b", 7, at) == "EndedAnnmarieob7T20261125T101500"
    assert aws.ended_access_sid("x" * 64, 1, at) == f"EndedX{'x' * 31}1T20261125T101500"
    assert aws.ended_access_statement(sid="EndedBob1", source_identity="bob", issued_before=at) == {
        "Sid": "EndedBob1",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceIdentity": "bob"},
            "DateLessThan": {"aws:TokenIssueTime": "2026-11-25T10:15:00Z"},
        },
    }


@pytest.mark.django_db
def test_it_keeps_one_statement_per_person_and_replaces_by_sid(demo_role):
    aws.add_ended_access_statement(role_arn=demo_role, statement=ended("bob", 1))
    aws.add_ended_access_statement(role_arn=demo_role, statement=ended("carol", 2))
    document = ended_policy(demo_role)
    assert document["Version"] == "2012-10-17"
    assert [s["Sid"] for s in document["Statement"]] == [
        "EndedBob1T20261125T101500",
        "EndedCarol2T20261125T101500",
    ]
    assert document["Statement"][1]["Condition"]["StringEquals"] == {"aws:SourceIdentity": "carol"}

    # The same Sid again replaces its statement, in place.
    changed = ended("bob", 1)
    changed["Condition"]["StringEquals"]["aws:SourceIdentity"] = "bob2"
    aws.add_ended_access_statement(role_arn=demo_role, statement=changed)
    statements = ended_policy(demo_role)["Statement"]
    assert [s["Sid"] for s in statements] == [
        "EndedBob1T20261125T101500",
        "EndedCarol2T20261125T101500",
    ]
    assert statements[0]["Condition"]["StringEquals"] == {"aws:SourceIdentity": "bob2"}


def filler_policy(size):
    """A policy of exactly `size` characters once whitespace is taken out."""
    statement = {"Effect": "Allow", "Action": "s3:Get", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    padding = size - len(json.dumps(document, separators=(",", ":")))
    document["Statement"][0]["Action"] += "X" * padding
    return document


@pytest.mark.django_db
def test_it_refuses_to_pass_the_inline_policy_quota(demo_role):
    role = RoleArn.parse(demo_role)
    iam = aws.iam_client()
    # Whitespace does not count: only the compact JSON is measured.
    iam.put_role_policy(
        RoleName=role.name, PolicyName="Big", PolicyDocument=json.dumps(filler_policy(10000))
    )
    with pytest.raises(aws.PolicyQuotaExceeded) as refused:
        aws.add_ended_access_statement(role_arn=demo_role, statement=ended("bob", 1))
    assert refused.value.code == "LimitExceeded"
    assert "inline policies are full" in refused.value.message
    assert iam.list_role_policies(RoleName=role.name)["PolicyNames"] == [
        "AcmeAdminPermissions",
        "Big",
    ]

    # Room for one statement (and for replacing it) but not for two.
    iam.put_role_policy(
        RoleName=role.name,
        PolicyName="Big",
        PolicyDocument=json.dumps(filler_policy(9800), indent=8),
    )
    aws.add_ended_access_statement(role_arn=demo_role, statement=ended("bob", 1))
    with pytest.raises(aws.PolicyQuotaExceeded):
        aws.add_ended_access_statement(role_arn=demo_role, statement=ended("carol", 2))
    assert [s["Sid"] for s in ended_policy(demo_role)["Statement"]] == ["EndedBob1T20261125T101500"]
    aws.add_ended_access_statement(role_arn=demo_role, statement=ended("bob", 1))


@pytest.mark.django_db
def test_removing_the_last_statement_deletes_the_policy(demo_role):
    role = RoleArn.parse(demo_role)
    aws.add_ended_access_statement(role_arn=demo_role, statement=ended("bob", 1))
    aws.add_ended_access_statement(role_arn=demo_role, statement=ended("carol", 2))
    aws.remove_ended_access_statements(
        role_arn=demo_role, sids=["EndedBob1T20261125T101500", "EndedNobody9T20261125T101500"]
    )
    assert [s["Sid"] for s in ended_policy(demo_role)["Statement"]] == [
        "EndedCarol2T20261125T101500"
    ]
    aws.remove_ended_access_statements(role_arn=demo_role, sids=["EndedCarol2T20261125T101500"])
    assert (
        aws.ENDED_ACCESS_POLICY_NAME
        not in (aws.iam_client().list_role_policies(RoleName=role.name)["PolicyNames"])
    )
    # Nothing left to prune is not an error.
    aws.remove_ended_access_statements(role_arn=demo_role, sids=["EndedCarol2T20261125T101500"])


def test_removing_from_a_role_that_is_gone_is_quiet(sandbox):
    aws.remove_ended_access_statements(
        role_arn="arn:aws:iam::123456789012:role/Gone", sids=["EndedBob1T20261125T101500"]
    )


@pytest.mark.django_db
def test_adding_names_the_missing_permission(demo_role, sandbox):
    sandbox.faults = {"iam": "denied"}
    with pytest.raises(aws.RoleRefused, match="lacks iam:PutRolePolicy"):
        aws.add_ended_access_statement(role_arn=demo_role, statement=ended("bob", 1))
    sandbox.faults = {}
    with pytest.raises(aws.RoleRefused, match="no role with this ARN"):
        aws.add_ended_access_statement(
            role_arn="arn:aws:iam::123456789012:role/Gone", statement=ended("bob", 1)
        )
