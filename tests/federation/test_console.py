"""Opening the AWS console: the whole flow through the sandbox, and every way it can fail."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from federation import aws
from federation.models import RoleMapping
from tests.federation.helpers import actions, console_url, follow, open_console

pytestmark = pytest.mark.django_db


def test_it_signs_bob_in_to_the_sandbox_console(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    # No length asked for: one hour, not the grant's twelve.
    assert b"Session is valid for 1 hour" in response.content
    assert b"The link works for 15 minutes; do not share it." in response.content
    url = console_url(response)
    assert url.startswith(f"{sandbox.url}/federation?Action=login&Issuer=")
    page = follow(url)
    assert page.status_code == 200
    assert "Sandbox AWS console" in page.text
    assert "assumed-role/AcmeAdmin/bob" in page.text
    assert '<dd id="source-identity">bob</dd>' in page.text


def test_it_records_requested_then_issued(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert actions()[-2:] == ["console.requested", "console.issued"]
    issued = AuditEvent.objects.get(action="console.issued")
    assert issued.actor == world.bob
    assert issued.tenant == world.tenant_a
    assert issued.role_arn == bob_grant.role_arn
    assert issued.role_session_name == "bob"
    assert issued.source_identity == "bob"
    assert issued.duration_seconds == 3600
    assert issued.assumed_role_arn.endswith(":assumed-role/AcmeAdmin/bob")
    assert issued.aws_request_id
    assert issued.request_id == response["X-Request-ID"]
    assert issued.client_ip == "127.0.0.1"


def test_it_sends_session_duration_for_long_term_broker_credentials(
    client, world, bob_grant, sandbox
):
    client.force_login(world.bob)
    open_console(client, bob_grant, duration=7200)
    (token,) = sandbox.tokens.values()
    console_seconds = (token.console_expires_at - token.issued_at).total_seconds()
    assert 7190 <= console_seconds <= 7200


def test_it_omits_session_duration_and_caps_chained_sessions(
    client, world, bob_grant, sandbox, monkeypatch
):
    # The portal itself on temporary credentials: AWS allows 1 hour and no SessionDuration.
    monkeypatch.setenv("AWS_SESSION_TOKEN", "broker-session-token")
    aws.reset_clients()
    client.force_login(world.bob)
    response = open_console(client, bob_grant, duration=43200)
    assert response.status_code == 200, response.content
    assert b"Session is valid for 1 hour" in response.content
    assert b"capped at one hour" in response.content
    (session,) = sandbox.sessions.values()
    assert session.chained
    assert follow(console_url(response)).status_code == 200
    assert AuditEvent.objects.get(action="console.issued").duration_seconds == 3600


def test_it_clamps_the_duration_to_the_grant_and_the_tenant(client, world, bob_grant, sandbox):
    RoleMapping.objects.filter(pk=bob_grant.pk).update(max_session_seconds=7200)
    world.tenant_a.max_session_seconds = 3600
    world.tenant_a.save()
    client.force_login(world.bob)
    response = open_console(client, bob_grant, duration=43200)
    assert b"Session is valid for 1 hour" in response.content
    (session,) = sandbox.sessions.values()
    lifetime = (session.expiration - timezone.now()).total_seconds()
    assert 3500 < lifetime <= 3600


def test_it_opens_a_deep_link_in_a_region(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    response = open_console(client, bob_grant, destination="/ec2/home", region="eu-west-1")
    page = follow(console_url(response))
    assert (
        '<dd id="destination">https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1'
        in page.text
    )


def test_it_refuses_a_region_of_another_partition(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    response = open_console(client, bob_grant, region="cn-north-1")
    assert response.status_code == 400
    assert b"not a region of this role" in response.content
    assert sandbox.calls["sts:AssumeRole"] == 0


def test_the_cli_page_names_the_region_the_person_chose_not_the_grants(
    client, world, bob_grant, sandbox
):
    RoleMapping.objects.filter(pk=bob_grant.pk).update(region="us-west-2")
    client.force_login(world.bob)
    cli = {"duration": "3600", "destination": "", "once": "a"}

    chosen = client.post(f"/cli/{bob_grant.pk}/", {**cli, "region": "eu-west-1"})
    default = client.post(f"/cli/{bob_grant.pk}/", {**cli, "region": "", "once": "b"})
    elsewhere = client.post(f"/cli/{bob_grant.pk}/", {**cli, "region": "cn-north-1", "once": "c"})

    assert "region = eu-west-1" in chosen.content.decode()
    assert "region = us-west-2" in default.content.decode()
    assert elsewhere.status_code == 400 and b"not a region of this role" in elsewhere.content


def test_it_sends_the_tenant_external_id(client, world, bob_grant, sandbox):
    # The trust policy requires tenant A's id; send B's and AWS refuses.
    world.tenant_a.external_id = world.tenant_b.external_id
    type(world.tenant_a).objects.filter(pk=world.tenant_a.pk).update(
        external_id=world.tenant_b.external_id + "-x"
    )
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 502
    assert b"AWS refused to let the portal assume this role (trust policy or external id)" in (
        response.content
    )
    failed = AuditEvent.objects.get(action="console.failed")
    assert failed.error_code == "AccessDenied"
    assert failed.aws_request_id


def test_it_omits_source_identity_when_the_tenant_turns_it_off(client, world, bob_grant, sandbox):
    type(world.tenant_a).objects.filter(pk=world.tenant_a.pk).update(send_source_identity=False)
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert '<dd id="source-identity">-</dd>' in follow(console_url(response)).text
    assert AuditEvent.objects.get(action="console.issued").source_identity == ""


@pytest.mark.parametrize(
    "change",
    [
        {"active": False},
        {"valid_until": timezone.now() - timedelta(minutes=1)},
        {"valid_from": timezone.now() + timedelta(days=1)},
    ],
    ids=["revoked", "expired", "not-yet-valid"],
)
def test_it_refuses_a_grant_not_in_force_without_calling_aws(
    client, world, bob_grant, sandbox, change
):
    RoleMapping.objects.filter(pk=bob_grant.pk).update(**change)
    client.force_login(world.bob)
    response = open_console(client, bob_grant)
    assert response.status_code == 404
    assert sandbox.calls["sts:AssumeRole"] == 0
    denied = AuditEvent.objects.get(action="console.denied")
    assert denied.actor == world.bob
    assert denied.mapping_id == bob_grant.pk
    assert denied.tenant == world.tenant_a


def test_it_refuses_another_tenants_grant_without_calling_aws(client, world, bob_grant, sandbox):
    client.force_login(world.carol)
    response = open_console(client, bob_grant)
    assert response.status_code == 404
    assert sandbox.calls["sts:AssumeRole"] == 0
    denied = AuditEvent.objects.get(action="console.denied")
    assert denied.actor == world.carol
    # In carol's own tenant's trail, for its admins to see; never in Acme's (nor its ARN).
    assert denied.tenant == world.tenant_b
    assert denied.role_arn == ""


def test_it_refuses_someone_elses_grant_in_the_same_tenant(client, world, bob_grant, sandbox):
    client.force_login(world.alice)
    assert open_console(client, bob_grant).status_code == 404
    assert sandbox.calls["sts:AssumeRole"] == 0


def test_it_reaches_team_members_and_stops_when_they_leave(client, world, demo_role, sandbox):
    from tests.factories import TeamFactory

    team = TeamFactory(tenant=world.tenant_a, name="ops")
    team.members.add(world.bob)
    from federation import services

    grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, team=team, role_arn=demo_role
    )
    client.force_login(world.bob)
    assert b"via team ops" in client.get("/").content
    assert open_console(client, grant).status_code == 200
    team.members.remove(world.bob)
    assert b"via team ops" not in client.get("/").content
    assert open_console(client, grant).status_code == 404


def test_it_only_issues_by_post(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    # A GET (a bookmark) shows the role instead; PUT and the like are refused.
    assert client.get(f"/console/{bob_grant.pk}/", follow=True).status_code == 200
    assert client.put(f"/console/{bob_grant.pk}/").status_code == 405
    assert sandbox.calls["sts:AssumeRole"] == 0


def test_it_needs_a_csrf_token(world, bob_grant, sandbox):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.bob)
    assert open_console(strict, bob_grant).status_code == 403
    assert sandbox.calls["sts:AssumeRole"] == 0


def test_it_rejects_a_nonsense_duration_with_a_clear_page(client, world, bob_grant, sandbox):
    client.force_login(world.bob)
    response = open_console(client, bob_grant, duration="forever")
    assert response.status_code == 400
    assert b"session length, region or destination is not valid" in response.content


def test_it_tags_sessions_and_applies_the_session_policy(client, world, bob_grant, sandbox):
    type(world.tenant_a).objects.filter(pk=world.tenant_a.pk).update(send_session_tags=True)
    RoleMapping.objects.filter(pk=bob_grant.pk).update(
        session_policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "s3:GetObject", "Resource": "*"}]}'
    )
    client.force_login(world.bob)
    assert open_console(client, bob_grant).status_code == 200
    assert sandbox.calls["sts:AssumeRole"] == 1


def test_it_reports_a_trust_policy_without_tag_session(client, world, sandbox):
    from federation import services

    # A role trusting the broker for AssumeRole only: tagging the session is refused.
    arn = aws.create_role(
        name="NoTags",
        partition="aws",
        trust_policy={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    "Condition": {"StringEquals": {"sts:ExternalId": world.tenant_a.external_id}},
                }
            ],
        },
        max_session_seconds=3600,
    )
    grant = services.grant_role(actor=None, tenant=world.tenant_a, user=world.bob, role_arn=arn)
    client.force_login(world.bob)
    assert open_console(client, grant).status_code == 200
    type(world.tenant_a).objects.filter(pk=world.tenant_a.pk).update(send_session_tags=True)
    assert open_console(client, grant).status_code == 502
    assert AuditEvent.objects.get(action="console.failed").error_code == "AccessDenied"


@pytest.mark.django_db(transaction=True)  # each record commits on its own, as in production
def test_the_requested_record_commits_without_waiting_for_the_disk_the_outcome_does(
    client, world, bob_grant, sandbox
):
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    client.force_login(world.bob)
    with CaptureQueriesContext(connection) as queries:
        assert open_console(client, bob_grant).status_code == 200
    statements = [q["sql"] for q in queries.captured_queries]
    relaxed = [
        i for i, sql in enumerate(statements) if "set_config('synchronous_commit', 'off'" in sql
    ]
    inserts = [
        i for i, sql in enumerate(statements) if 'INSERT INTO "federation_auditevent"' in sql
    ]
    # One relaxed commit, for the first record (requested); the outcome's waits for the
    # disk, and with it everything written before.
    assert len(relaxed) == 1 and len(inserts) == 2
    assert relaxed[0] < inserts[0] < inserts[1]
    newest = AuditEvent.objects.order_by("-sequence").values_list("action", flat=True)[:2]
    assert list(newest) == ["console.issued", "console.requested"]
    assert "synchronous_commit" not in " ".join(statements[inserts[0] + 1 :])


def test_issuances_reuse_the_statements_prepared_on_their_connection(
    client, world, bob_grant, sandbox
):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    client.force_login(world.bob)
    for _ in range(3):
        assert open_console(client, bob_grant).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [row[0] for row in cursor.fetchall()]
    # The grant check and the audit chain's head, parsed and planned once on this
    # connection, not on every issuance.
    assert any('FROM "federation_rolemapping"' in sql and "$1" in sql for sql in prepared)
    assert any(
        sql.startswith("SELECT sequence, hash FROM federation_auditevent") for sql in prepared
    )
