"""`portcullis-credentials --request ... --wait`: the helper files a request for an
on-request grant (or reuses the open one), waits for the approval and then hands out
credentials; with the real AWS CLI through `credential_process`, and the helper alone."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from access import services as access_services
from access.models import AccessRequest
from audit.models import AuditEvent
from audit.records import RequestMeta
from tests.federation.test_cli_and_api import HELPER, create_token

pytestmark = pytest.mark.django_db(transaction=True)

AWS = Path(sys.executable).parent / "aws"
REASON = "Rotate the prod database keys"
BOB_ARN = "arn:aws:sts::123456789012:assumed-role/AcmeAdmin/bob"


@pytest.fixture
def turns(live_server):
    """The live server's threads and this test share one in-memory SQLite connection
    (pytest-django's live_server): they take turns, one request or one look at a time."""
    lock = threading.Lock()
    httpd = live_server.thread.httpd
    app = httpd.get_app()

    def one_at_a_time(environ, start_response):
        with lock:
            response = app(environ, start_response)
            try:
                body = b"".join(response)
            finally:
                response.close()
        return [body]

    httpd.set_app(one_at_a_time)
    yield lock
    httpd.set_app(app)


@pytest.fixture
def token_file(world, client, tmp_path):
    client.force_login(world.bob)
    path = tmp_path / "token"
    path.write_text(create_token(client))
    client.logout()
    return path


def helper_args(live_server, token_file, grant, *options):
    return [
        sys.executable,
        str(HELPER),
        "--url",
        live_server.url,
        "--token-file",
        str(token_file),
        "--role",
        str(grant.pk),
        *options,
    ]


@pytest.fixture
def aws_cli(live_server, on_request, sandbox, token_file, tmp_path):
    """Starts `aws sts get-caller-identity --profile acme`, whose credential_process asks
    for bob's on-request grant and waits."""
    config = tmp_path / "config"
    config.write_text(
        "[profile acme]\n"
        f"credential_process = {sys.executable} {HELPER} --url {live_server.url} "
        f'--token-file {token_file} --role {on_request.pk} --request "{REASON}" '
        "--ticket CHG-42 --window 1800 --wait --wait-timeout 60 --poll 0.2\n"
        "region = us-east-1\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key == "AWS_EC2_METADATA_DISABLED"
    }
    env.update(
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_ENDPOINT_URL_STS=sandbox.url,
    )

    def start():
        return subprocess.Popen(
            [str(AWS), "sts", "get-caller-identity", "--profile", "acme"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    return start


def run_helper(live_server, token_file, grant, *options):
    return subprocess.Popen(
        helper_args(live_server, token_file, grant, *options),
        env={"PATH": os.environ["PATH"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=60):
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"still running after {timeout} s; stderr:\n{stderr}")
    return process.returncode, stdout, stderr


def the_request_once_filed(process, turns, world, grant, timeout=30):
    """The request the subprocess files, waiting for it (while it waits for approval)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with turns:
            access = (
                AccessRequest.objects.unscoped("test")
                .filter(requester=world.bob, grant=grant)
                .first()
            )
        if access is not None:
            return access
        if process.poll() is not None:
            pytest.fail(f"it ended before filing a request:\n{process.stderr.read()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail("no request was filed")


def decide_as(person, access, turns, *, approve=True, comment=""):
    with turns:
        return access_services.decide(
            user=person,
            request_id=access.pk,
            approve=approve,
            comment=comment,
            meta=RequestMeta(),
        )


def count(turns, action):
    with turns:
        return AuditEvent.objects.filter(action=action).count()


# --- through the AWS CLI's credential_process -------------------------------------------------


def test_credential_process_waits_for_the_approval_then_the_aws_cli_works(
    aws_cli, turns, world, on_request, dave
):
    process = aws_cli()
    access = the_request_once_filed(process, turns, world, on_request)
    assert (access.state, access.seconds) == ("pending", 1800)
    assert (access.justification, access.ticket) == (REASON, "CHG-42")
    time.sleep(0.5)  # it is waiting, not failing
    assert process.poll() is None
    assert decide_as(dave, access, turns).state == "active"

    status, stdout, stderr = finish(process)
    assert status == 0, stderr
    assert json.loads(stdout)["Arn"] == BOB_ARN

    # A second run inside the window uses it: no second request.
    status, stdout, stderr = finish(aws_cli())
    assert status == 0, stderr
    assert json.loads(stdout)["Arn"] == BOB_ARN
    with turns:
        assert AccessRequest.objects.unscoped("test").count() == 1
    assert count(turns, "request.created") == 1
    assert count(turns, "cli.issued") == 2


def test_credential_process_fails_with_the_approvers_comment_on_a_denial(
    aws_cli, turns, world, on_request, dave, sandbox
):
    process = aws_cli()
    access = the_request_once_filed(process, turns, world, on_request)
    denied = decide_as(dave, access, turns, approve=False, comment="Use the runbook role instead")
    assert denied.state == "denied"

    status, stdout, stderr = finish(process)
    assert status != 0
    assert stdout == ""
    assert f"request #{access.pk} was denied by dave" in stderr
    assert "dave: Use the runbook role instead" in stderr
    assert sandbox.calls["sts:AssumeRole"] == 0


# --- the helper alone ----------------------------------------------------------------------------


def test_the_helper_shows_its_progress_on_stderr_and_only_credentials_on_stdout(
    live_server, turns, world, on_request, dave, sandbox, token_file
):
    process = run_helper(
        live_server, token_file, on_request, "--request", REASON, "--wait", "--poll", "0.2"
    )
    access = the_request_once_filed(process, turns, world, on_request)
    time.sleep(1)
    decide_as(dave, access, turns)
    status, stdout, stderr = finish(process)
    assert status == 0, stderr
    payload = json.loads(stdout)
    assert payload["Version"] == 1 and payload["AccessKeyId"]
    assert f"filed request #{access.pk} for Acme admin (on request)" in stderr
    progress = [line for line in stderr.splitlines() if "waiting for approval" in line]
    # One line at first, then one per ten seconds at most (it waited about a second).
    assert len(progress) == 1, stderr
    assert f"waiting for approval of request #{access.pk} (asked " in progress[0]


def test_without_wait_it_files_the_request_and_says_it_waits(
    live_server, turns, world, on_request, dave, token_file
):
    status, stdout, stderr = finish(
        run_helper(live_server, token_file, on_request, "--request", REASON)
    )
    assert (status, stdout) == (1, "")
    with turns:
        access = AccessRequest.objects.unscoped("test").get()
    assert access.state == "pending"
    assert f"request #{access.pk} is filed and waiting for approval" in stderr

    # Run again: the same request, still waiting; no second one.
    status, stdout, stderr = finish(
        run_helper(live_server, token_file, on_request, "--request", "Another reason entirely")
    )
    assert (status, stdout) == (1, "")
    assert f"request #{access.pk} is already filed and waiting" in stderr
    with turns:
        assert AccessRequest.objects.unscoped("test").count() == 1


def test_without_request_the_refusal_is_shown_as_before(
    live_server, turns, world, on_request, token_file
):
    status, stdout, stderr = finish(run_helper(live_server, token_file, on_request))
    assert (status, stdout) == (1, "")
    assert stderr.startswith("portcullis-credentials: the portal refused: HTTP 403: ")
    assert "used on request" in stderr
    with turns:
        assert not AccessRequest.objects.unscoped("test").exists()


def test_the_wait_ends_after_its_timeout(live_server, turns, world, on_request, dave, token_file):
    started = time.monotonic()
    status, stdout, stderr = finish(
        run_helper(
            live_server,
            token_file,
            on_request,
            "--request",
            REASON,
            "--wait",
            "--wait-timeout",
            "1",
            "--poll",
            "0.2",
        )
    )
    assert (status, stdout) == (1, "")
    assert time.monotonic() - started < 15
    assert "no decision on request #" in stderr and "within 1 s" in stderr
    with turns:
        assert AccessRequest.objects.unscoped("test").get().state == "pending"
