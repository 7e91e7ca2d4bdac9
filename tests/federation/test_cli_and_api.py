"""CLI credentials on the page, personal API tokens, and `credential_process`."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from audit.models import AuditEvent
from federation.models import ApiToken

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "scripts" / "portcullis-credentials"


def create_token(client, name="laptop"):
    response = client.post("/tokens/", {"name": name})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    return (
        re.search(rb'id="new-token" class="mono url" value="([^"]+)"', response.content)
        .group(1)
        .decode()
    )


def test_it_shows_cli_credentials(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    response = client.post(f"/cli/{bob_grant.pk}/", {"duration": "3600"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    (session,) = sandbox.sessions.values()
    body = response.content.decode()
    assert f"export AWS_ACCESS_KEY_ID={session.access_key_id}" in body
    assert f"aws_session_token = {session.session_token}" in body
    assert "[acme-admin]\naws_access_key_id" in body
    assert "Valid for 1 hour" in body
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id"))[-2:] == [
        "cli.requested",
        "cli.issued",
    ]


def test_it_shows_a_new_token_once_and_stores_only_its_hash(client, world):
    client.force_login(world.bob)
    plain = create_token(client)
    token = ApiToken.objects.get(user=world.bob)
    assert plain.startswith(f"pcl_{token.key_id}_")
    assert plain.split("_", 2)[2] not in token.digest
    assert plain.encode() not in client.get("/tokens/").content
    assert AuditEvent.objects.filter(action="token.created", actor=world.bob).exists()


def test_it_lists_my_roles_over_the_api(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    plain = create_token(client)
    client.logout()
    response = client.get("/api/v1/roles", HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert response.status_code == 200
    assert response.json() == {
        "roles": [
            {
                "id": bob_grant.pk,
                "label": "Acme admin",
                "role_arn": bob_grant.role_arn,
                "account_id": "123456789012",
                "account_alias": "",
                "tenant": "acme",
                "max_session_seconds": 43200,
                "region": "",
            }
        ]
    }


def test_it_returns_credential_process_json(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    plain = create_token(client)
    client.logout()
    response = client.post(
        f"/api/v1/credentials/{bob_grant.pk}",
        {"duration": "900"},
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 200
    payload = response.json()
    (session,) = sandbox.sessions.values()
    assert payload["Version"] == 1
    assert payload["AccessKeyId"] == session.access_key_id
    assert payload["SessionToken"] == session.session_token
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", payload["Expiration"])
    assert AuditEvent.objects.get(action="cli.issued").duration_seconds == 900


def test_no_duration_over_the_api_means_one_hour(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    plain = create_token(client)
    response = client.post(
        f"/api/v1/credentials/{bob_grant.pk}", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )
    assert response.status_code == 200
    assert bob_grant.max_session_seconds == 43200
    assert AuditEvent.objects.get(action="cli.issued").duration_seconds == 3600


@pytest.mark.parametrize("header", ["", "Bearer nope", "Bearer pcl_abc_def", "Basic Ym9iOmJvYg=="])
def test_it_refuses_the_api_without_a_valid_token(client, world, bob_grant, sandbox, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.post(f"/api/v1/credentials/{bob_grant.pk}", **extra)
    assert response.status_code == 401
    # The one error shape of the API: what went wrong, a code for programs, the request id.
    assert response.json() == {
        "error": "A valid API token is required.",
        "code": "TokenRequired",
        "request_id": response["X-Request-ID"],
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="portcullis"'
    assert sandbox.calls["sts:AssumeRole"] == 0


def test_it_refuses_a_revoked_token(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    plain = create_token(client)
    token = ApiToken.objects.get(user=world.bob)
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 302
    response = client.get("/api/v1/roles", HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert response.status_code == 401


def test_it_cannot_revoke_someone_elses_token(client, world):
    client.force_login(world.carol)
    create_token(client)
    token = ApiToken.objects.get(user=world.carol)
    client.force_login(world.bob)
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_refuses_another_tenants_role_over_the_api(client, world, bob_grant, sandbox):
    client.force_login(world.carol)
    plain = create_token(client)
    response = client.post(
        f"/api/v1/credentials/{bob_grant.pk}", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )
    assert response.status_code == 404
    assert sandbox.calls["sts:AssumeRole"] == 0
    assert AuditEvent.objects.filter(action="cli.denied", actor=world.carol).exists()


@pytest.mark.django_db(transaction=True)
def test_the_aws_cli_gets_credentials_through_credential_process(
    live_server, world, bob_grant, sandbox, tmp_path, client
):
    client.force_login(world.bob)
    plain = create_token(client)
    token_file = tmp_path / "token"
    token_file.write_text(plain)
    config = tmp_path / "config"
    config.write_text(
        "[profile acme]\n"
        f"credential_process = {sys.executable} {HELPER} --url {live_server.url} "
        f"--token-file {token_file} --role {bob_grant.pk}\n"
        "region = us-east-1\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key == "AWS_EC2_METADATA_DISABLED"
    }
    # What the README tells a newcomer: the sandbox's STS, for credentials it issued.
    env.update(
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_ENDPOINT_URL_STS=sandbox.url,
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "aws"),
            "sts",
            "get-caller-identity",
            "--profile",
            "acme",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/AcmeAdmin/bob"


def test_the_helper_lists_my_roles_and_their_ids(live_server, world, bob_grant, client):
    client.force_login(world.bob)
    plain = create_token(client)
    result = subprocess.run(
        [sys.executable, str(HELPER), "--url", live_server.url, "--list"],
        env={"PORTCULLIS_TOKEN": plain, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{bob_grant.pk}\tacme\tAcme admin\t{bob_grant.role_arn}\n"


def test_the_helper_reads_the_token_from_where_the_tokens_page_says_to_save_it(
    live_server, world, bob_grant, client, tmp_path
):
    client.force_login(world.bob)
    assert "<code>~/.config/portcullis/token</code>" in client.get("/tokens/").content.decode()
    saved = tmp_path / ".config" / "portcullis" / "token"
    saved.parent.mkdir(parents=True)
    saved.write_text(create_token(client) + "\n")

    # What the tokens page suggests: --url and --list, nothing about the token.
    result = subprocess.run(
        [sys.executable, str(HELPER), "--url", live_server.url, "--list"],
        env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{bob_grant.pk}\tacme\tAcme admin\t{bob_grant.role_arn}\n"


def test_the_helper_without_a_token_says_where_to_put_one(tmp_path):
    result = subprocess.run(
        [sys.executable, str(HELPER), "--url", "http://127.0.0.1:9", "--list"],
        env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 1
    assert "save one in ~/.config/portcullis/token" in result.stderr


def test_the_tokens_page_gives_a_profile_for_each_of_my_roles(client, world, bob_grant):
    client.force_login(world.bob)
    page = client.get("/tokens/").content.decode()
    assert f"--role {bob_grant.pk}" in page and "[profile acme-admin]" in page
    assert "region = us-east-1" in page  # the AWS CLI asks for one


def test_the_cli_page_and_the_tokens_page_give_a_role_the_same_profile_name(
    client, world, bob_grant, sandbox
):
    client.force_login(world.bob)
    cli = client.post(f"/cli/{bob_grant.pk}/", {"duration": "3600"}).content.decode()
    tokens = client.get("/tokens/").content.decode()

    profiles = re.findall(r"\[profile ([^\]]+)\]", cli + tokens)
    assert profiles == ["acme-admin", "acme-admin"] == [bob_grant.profile_name] * 2
    assert "[acme-admin]\naws_access_key_id" in cli


@pytest.mark.parametrize(
    ("label", "profile"),
    [("Prod read-only", "prod-read-only"), ("Sandbox administrator", "sandbox-administrator")],
)
def test_a_profile_is_named_after_the_grants_label(world, bob_grant, label, profile):
    bob_grant.label = label
    assert bob_grant.profile_name == profile


def test_a_label_without_letters_or_digits_names_the_profile_by_the_grants_id(world, bob_grant):
    bob_grant.label = "★ ★"
    assert bob_grant.profile_name == f"role-{bob_grant.pk}"


def test_the_helper_explains_an_unreachable_portal():
    result = subprocess.run(
        [sys.executable, str(HELPER), "--url", "http://127.0.0.1:9", "--role", "1"],
        env={"PORTCULLIS_TOKEN": "pcl_x_y", "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("portcullis-credentials: cannot reach the portal")
