"""The door to AWS: ARNs, endpoints and console URLs in all three partitions."""

from urllib.parse import parse_qs, urlsplit

import pytest

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
    role = aws.RoleArn.parse(arn)
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
        aws.RoleArn.parse(arn)


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
