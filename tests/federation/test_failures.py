"""Every way AWS can fail: a clean page, a `failed` record, never a 500, never a URL."""

import time

import pytest
from django.db import connection

from audit.models import AuditEvent
from federation import aws
from tests.federation.helpers import actions, console_url, open_console
from tests.servers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_timeouts(settings):
    settings.AWS_CONNECT_TIMEOUT = 0.5
    settings.AWS_READ_TIMEOUT = 0.5
    settings.AWS_MAX_ATTEMPTS = 2
    aws.reset_clients()


def failed_record():
    return AuditEvent.objects.get(action="console.failed")


def test_it_answers_503_when_sts_is_down(
    client, world, bob_grant, sandbox, monkeypatch, fast_timeouts
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    aws.reset_clients()
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert b"AWS is not answering, try again" in response.content
    assert response["X-Request-ID"].encode() in response.content
    assert console_url(response) is None
    assert failed_record().error_code == "EndpointConnectionError"


def test_it_gives_up_on_a_slow_sts_within_the_timeouts(
    client, world, bob_grant, sandbox, fast_timeouts
):
    sandbox.faults = {"sts": "slow", "delay": 3}
    client.force_login(world.bob)
    started = time.monotonic()
    response = open_console(client, bob_grant)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    # Two attempts of at most 0.5 s connect + 0.5 s read each, plus back-off.
    assert elapsed < 3
    assert failed_record().error_code == "Timeout"
    assert actions()[-2:] == ["console.requested", "console.failed"]


@pytest.mark.parametrize(
    ("fault", "code"),
    [("throttle", "Throttling"), ("500", "InternalFailure"), ("malformed", "MalformedResponse")],
)
def test_it_answers_503_when_sts_misbehaves(
    client, world, bob_grant, sandbox, fast_timeouts, fault, code
):
    sandbox.faults = {"sts": fault}
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert b"AWS is not answering, try again" in response.content
    assert failed_record().error_code == code


def test_it_retries_throttling_a_bounded_number_of_times(
    client, world, bob_grant, sandbox, fast_timeouts
):
    sandbox.faults = {"sts": "throttle"}
    client.force_login(world.bob)
    open_console(client, bob_grant)
    assert sandbox.calls["sts:AssumeRole"] == 2


def test_it_does_not_retry_access_denied(client, world, bob_grant, sandbox):
    type(world.tenant_a).objects.filter(pk=world.tenant_a.pk).update(external_id="portcullis-other")
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 502
    assert sandbox.calls["sts:AssumeRole"] == 1
    assert failed_record().error_code == "AccessDenied"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("500", "Federation500"),
        ("no-token", "FederationNoSigninToken"),
        ("html", "FederationNoSigninToken"),
    ],
)
def test_it_answers_503_when_the_federation_endpoint_fails(
    client, world, bob_grant, sandbox, fast_timeouts, fault, code
):
    sandbox.faults = {"federation": fault}
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert console_url(response) is None
    assert failed_record().error_code == code


def test_it_gives_up_on_a_slow_federation_endpoint(
    client, world, bob_grant, sandbox, fast_timeouts
):
    sandbox.faults = {"federation": "slow", "delay": 2}
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert failed_record().error_code == "FederationTimeout"


def test_it_answers_503_when_the_broker_has_no_credentials(
    client, world, bob_grant, sandbox, monkeypatch, tmp_path
):
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    aws.reset_clients()
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert b"portal&#x27;s own AWS credentials" in response.content
    assert failed_record().error_code == "NoCredentials"


def refuse_inserts(action):
    """A database that refuses audit records of one kind: a full disk, a revoked grant..."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit store unavailable'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON federation_auditevent "
                f"FOR EACH ROW WHEN (NEW.action = '{action}') EXECUTE FUNCTION refuse_audit()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON federation_auditevent "
                f"WHEN NEW.action = '{action}' "
                "BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END"
            )


def test_it_hands_out_no_url_when_the_issued_record_cannot_be_written(
    client, world, bob_grant, sandbox
):
    refuse_inserts("console.issued")
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert b"cannot write its audit trail" in response.content
    assert console_url(response) is None
    assert b"federation?Action=login" not in response.content


def test_it_calls_no_aws_when_the_requested_record_cannot_be_written(
    client, world, bob_grant, sandbox
):
    refuse_inserts("console.requested")
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 503
    assert sandbox.calls["sts:AssumeRole"] == 0
