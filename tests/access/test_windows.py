"""Sessions inside a window: issued only while it is open, never outliving it, and ended
for that person alone when the window is ended early (the sandbox enforces it like AWS)."""

import html
import json
from datetime import timedelta

import boto3
import pytest
import time_machine
from django.utils import timezone

from access.models import AccessRequest, SessionCutoff
from access.services import clock
from audit.models import AuditEvent
from core.arns import RoleArn
from federation import aws, services
from federation.aws import revocation
from federation.models import RoleMapping
from tests.access.conftest import client_for, decide, file, state_of
from tests.federation.helpers import (
    ADMINISTRATION_ROLE,
    CUSTOMER_ACCOUNT,
    console_url,
    follow,
    iam_in,
    make_role,
    open_console,
    trusting_the_portal,
)

pytestmark = pytest.mark.django_db


def approved(world, grant, approver, **options):
    access = file(world, grant, **options)
    assert decide(client_for(approver), access).status_code == 302
    access.refresh_from_db()
    assert access.state == "active"
    return access


def ended_access_policy(role_arn):
    iam = boto3.client("iam")
    name = RoleArn.parse(role_arn).name
    try:
        document = iam.get_role_policy(RoleName=name, PolicyName="PortcullisEndedAccess")
    except iam.exceptions.NoSuchEntityException:
        return None
    policy = document["PolicyDocument"]
    return json.loads(policy) if isinstance(policy, str) else policy


def test_outside_a_window_nothing_is_issued_and_aws_is_not_asked(
    bob_client, world, on_request, sandbox
):
    for path in (f"/console/{on_request.pk}/", f"/cli/{on_request.pk}/"):
        response = bob_client.post(path, {"duration": "3600"})
        assert response.status_code == 403
        assert "used on request" in response.content.decode()
    assert sandbox.calls["sts:AssumeRole"] == 0
    denied = AuditEvent.objects.filter(action__in=["console.denied", "cli.denied"])
    assert {event.error_code for event in denied} == {"NoAccessWindow"}
    assert all(event.tenant == world.tenant_a for event in denied)


def test_inside_a_window_sessions_end_with_it(bob_client, world, on_request, dave, sandbox):
    access = approved(world, on_request, dave, seconds=1800)
    # Twelve hours asked for, the grant allows it: the window's 30 minutes win.
    response = open_console(bob_client, on_request, duration=43200)
    assert response.status_code == 200
    (session,) = sandbox.sessions.values()
    assert session.expiration <= access.ends_at
    assert (access.ends_at - session.expiration).total_seconds() < 5
    issued = AuditEvent.objects.get(action="console.issued")
    assert issued.duration_seconds <= 1800
    assert issued.detail == f"under access request #{access.pk}"
    page = follow(console_url(response))
    assert page.status_code == 200 and "assumed-role/AcmeAdmin/bob" in page.text


def test_the_api_and_cli_page_are_capped_too(bob_client, world, on_request, dave, sandbox):
    access = approved(world, on_request, dave, seconds=1800)
    response = bob_client.post(f"/cli/{on_request.pk}/", {"duration": "7200"})
    assert response.status_code == 200
    (session,) = sandbox.sessions.values()
    assert session.expiration <= access.ends_at


def test_with_under_fifteen_minutes_left_it_says_to_ask_again(
    bob_client, world, on_request, dave, sandbox
):
    access = approved(world, on_request, dave, seconds=1800)
    with time_machine.travel(access.ends_at - timedelta(minutes=10)):
        response = open_console(bob_client, on_request)
        page = bob_client.get("/").content.decode()
    assert response.status_code == 403
    assert "Request access again" in response.content.decode()
    assert sandbox.calls["sts:AssumeRole"] == 0
    assert AuditEvent.objects.filter(error_code="AccessWindowEnding").count() == 1
    assert "too little for a new AWS session" in page


def test_after_the_window_it_is_refused_and_the_clock_records_the_end(
    bob_client, world, on_request, dave, sandbox
):
    access = approved(world, on_request, dave, seconds=1800)
    with time_machine.travel(access.ends_at + timedelta(seconds=1)):
        assert open_console(client_for(world.bob), on_request).status_code == 403
        done = clock.tick()
    assert done.ended == 1
    assert state_of(access) == "ended"
    ended = AuditEvent.objects.get(action="request.ended")
    assert ended.actor_username == "(clock)" and "window over" in ended.detail
    assert sandbox.calls["sts:AssumeRole"] == 0


def test_a_standing_grant_is_untouched(bob_client, bob_grant, sandbox):
    assert open_console(bob_client, bob_grant, duration=43200).status_code == 200
    assert AuditEvent.objects.get(action="console.issued").duration_seconds == 43200


# --- ending early ----------------------------------------------------------------------------


def test_im_done_ends_bobs_sessions_and_only_his(bob_client, world, on_request, dave, sandbox):
    # Alice holds a standing grant of the same role: her sessions must live on.
    alice_grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, user=world.alice, role_arn=on_request.role_arn
    )
    alice_client = client_for(world.alice)
    alice_link = console_url(open_console(alice_client, alice_grant))
    access = approved(world, on_request, dave)
    old_link = console_url(open_console(bob_client, on_request))
    assert follow(old_link).status_code == 200

    response = bob_client.post(f"/requests/{access.pk}/end/", {"next": "home"}, follow=True)
    assert response.status_code == 200
    assert "Every session of this role bob opened before" in response.content.decode()
    assert state_of(access) == "ended"

    refused = follow(old_link)
    assert refused.status_code == 403
    assert follow(alice_link).status_code == 200
    (statement,) = ended_access_policy(on_request.role_arn)["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceIdentity": "bob"}
    cutoff = SessionCutoff.objects.unscoped("test").get()
    assert statement["Sid"] == cutoff.sid
    assert cutoff.keep_until == access.ends_at + timedelta(hours=12, minutes=15)
    ended = AuditEvent.objects.get(action="sessions.ended")
    assert ended.source_identity == "bob" and ended.actor == world.bob

    # No new session under the ended window; a new approval opens one that works.
    assert open_console(bob_client, on_request).status_code == 403
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        approved(world, on_request, dave)
        new_link = console_url(open_console(bob_client, on_request))
    assert follow(new_link).status_code == 200


def test_an_approver_or_a_tenant_admin_may_end_it_but_nobody_else(
    world, on_request, dave, erin, sandbox
):
    access = approved(world, on_request, dave)
    assert client_for(erin).post(f"/requests/{access.pk}/end/").status_code == 403
    assert client_for(world.carol).post(f"/requests/{access.pk}/end/").status_code == 404
    assert state_of(access) == "active"
    assert client_for(dave).post(f"/requests/{access.pk}/end/").status_code == 302
    assert state_of(access) == "ended"
    second = approved(world, on_request, dave)
    alice = client_for(world.alice)
    assert alice.post(f"/requests/{second.pk}/end/", {"reason": "audit"}).status_code == 302
    second.refresh_from_db()
    assert (second.state, second.ended_by, second.end_reason) == ("ended", world.alice, "audit")
    # Nothing was issued under either window: no statement needed, none written.
    assert ended_access_policy(on_request.role_arn) is None


def test_an_ended_window_cannot_be_ended_again(bob_client, world, on_request, dave, sandbox):
    access = approved(world, on_request, dave)
    assert bob_client.post(f"/requests/{access.pk}/end/").status_code == 302
    again = bob_client.post(f"/requests/{access.pk}/end/")
    assert again.status_code == 409


def fill_the_role_but_for(statements, role_arn):
    """An inline policy that leaves room on the role for this many ended-access statements."""
    iam = boto3.client("iam")
    name = RoleArn.parse(role_arn).name
    size = revocation._policy_size
    others = sum(
        size(
            json.loads(
                json.dumps(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
            )
        )
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    )
    one = size(
        aws.ended_access_statement(
            sid="EndedSomebody99T20261125T101500",
            source_identity="somebody",
            issued_before=timezone.now(),
        )
    )
    room = int(statements * one) + size({"Version": "2012-10-17", "Statement": []})
    filler = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x/"}],
    }
    pad = aws.INLINE_POLICY_QUOTA - others - room - size(filler)
    filler["Statement"][0]["Resource"] += "p" * pad
    iam.put_role_policy(RoleName=name, PolicyName="Big", PolicyDocument=json.dumps(filler))


def test_a_full_role_ends_every_session_of_the_role_instead_and_says_so(
    bob_client, world, on_request, dave, sandbox
):
    fill_the_role_but_for(1.5, on_request.role_arn)
    alice_grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, user=world.alice, role_arn=on_request.role_arn
    )
    alice_link = console_url(open_console(client_for(world.alice), alice_grant))
    # Someone else's window ended a moment ago: their statement takes the room left.
    aws.add_ended_access_statement(
        role_arn=on_request.role_arn,
        statement=aws.ended_access_statement(
            sid="EndedCarl7T20261125T101500",
            source_identity="carl",
            issued_before=timezone.now(),
        ),
    )
    access = approved(world, on_request, dave)
    link = console_url(open_console(bob_client, on_request))
    response = bob_client.post(f"/requests/{access.pk}/end/", follow=True)
    assert "inline policies are full, so every session" in html.unescape(response.content.decode())
    assert follow(link).status_code == 403
    assert follow(alice_link).status_code == 403  # everyone's, as the page said
    (statement,) = ended_access_policy(on_request.role_arn)["Statement"]
    assert statement["Sid"].startswith("EndedEveryone")
    assert "StringEquals" not in statement["Condition"]
    cutoff = SessionCutoff.objects.unscoped("test").get()
    assert cutoff.whole_role and cutoff.sid == statement["Sid"]
    assert AuditEvent.objects.filter(action="sessions.revoked").count() == 1
    assert AuditEvent.objects.filter(action="sessions.ended").count() == 1
    # A new approval works again: only sessions from before the end are denied.
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        approved(world, on_request, dave)
        assert follow(console_url(open_console(bob_client, on_request))).status_code == 200


def test_a_role_that_does_not_demand_the_tenants_external_id_is_left_alone(
    bob_client, world, on_request, dave, sandbox
):
    iam = boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            }
        ],
    }
    iam.update_assume_role_policy(RoleName="AcmeAdmin", PolicyDocument=json.dumps(trust))
    access = approved(world, on_request, dave)
    open_console(bob_client, on_request)
    response = bob_client.post(f"/requests/{access.pk}/end/", follow=True)
    assert "does not require this tenant's ExternalId" in html.unescape(response.content.decode())
    assert state_of(access) == "ended"
    assert ended_access_policy(on_request.role_arn) is None
    assert AuditEvent.objects.get(action="sessions.denied").error_code == "ExternalIdNotRequired"


def test_without_source_identity_the_person_cannot_be_singled_out(
    bob_client, world, on_request, dave, sandbox
):
    access = approved(world, on_request, dave)
    open_console(bob_client, on_request)
    type(world.tenant_a).objects.unscoped("test").filter(pk=world.tenant_a.pk).update(
        send_source_identity=False
    )
    response = bob_client.post(f"/requests/{access.pk}/end/", follow=True)
    assert "does not send SourceIdentity" in html.unescape(response.content.decode())
    assert AuditEvent.objects.get(action="sessions.failed").error_code == "NoSourceIdentity"


def test_the_clock_prunes_statements_nothing_alive_can_need(
    bob_client, world, on_request, dave, sandbox
):
    access = approved(world, on_request, dave)
    open_console(bob_client, on_request)
    bob_client.post(f"/requests/{access.pk}/end/")
    assert ended_access_policy(on_request.role_arn) is not None
    cutoff = SessionCutoff.objects.unscoped("test").get()
    with time_machine.travel(cutoff.keep_until - timedelta(minutes=1)):
        assert clock.tick().pruned == 0
    assert ended_access_policy(on_request.role_arn) is not None
    with time_machine.travel(cutoff.keep_until + timedelta(minutes=1)):
        assert clock.tick().pruned == 1
    assert ended_access_policy(on_request.role_arn) is None
    cutoff.refresh_from_db()
    assert cutoff.removed_at is not None


def test_with_little_left_asking_again_takes_over_from_the_spent_window(
    world, on_request, dave, sandbox
):
    access = approved(world, on_request, dave, seconds=1800)
    with time_machine.travel(access.ends_at - timedelta(minutes=10)):
        bob = client_for(world.bob)
        assert (
            bob.post(
                f"/requests/new/{on_request.pk}/",
                {"duration": "3600", "justification": "Still rotating the keys"},
            ).status_code
            == 302
        )
    assert state_of(access) == "ended"
    assert AccessRequest.objects.unscoped("test").filter(state="pending").count() == 1
    ended = AuditEvent.objects.get(action="request.ended")
    assert ended.detail == f"#{access.pk} a new request took over"


def test_ending_a_window_that_is_already_over_writes_no_statement(world, on_request, dave, sandbox):
    access = approved(world, on_request, dave, seconds=1800)
    open_console(client_for(world.bob), on_request)
    with time_machine.travel(access.ends_at + timedelta(seconds=5)):
        response = client_for(world.bob).post(f"/requests/{access.pk}/end/", follow=True)
    assert "had already ended" in response.content.decode()
    assert state_of(access) == "ended"
    assert ended_access_policy(on_request.role_arn) is None
    assert AuditEvent.objects.get(action="request.ended").detail.endswith("window over")


def test_a_window_ended_while_aws_answers_hands_nothing_out(
    bob_client, world, on_request, dave, sandbox, monkeypatch
):
    """The end commits between issuance's window check and its outcome: the session AWS
    made is withheld, and the end covers it (its `requested` record came first)."""
    from access.services import end_window
    from audit.records import RequestMeta

    access = approved(world, on_request, dave)
    real_assume_role = aws.assume_role

    def assume_role_while_the_window_ends(**kwargs):
        assumed = real_assume_role(**kwargs)
        end_window(user=dave, request_id=access.pk, meta=RequestMeta())
        return assumed

    monkeypatch.setattr(aws, "assume_role", assume_role_while_the_window_ends)
    response = bob_client.post(f"/cli/{on_request.pk}/", {"duration": "3600"})
    assert response.status_code == 403
    assert "ended while the session was being made" in response.content.decode()
    (session,) = sandbox.sessions.values()
    assert session.access_key_id.encode() not in response.content
    assert AuditEvent.objects.filter(error_code="AccessWindowClosed").count() == 1
    assert not AuditEvent.objects.filter(action="cli.issued").exists()
    # The end saw the session coming and put the statement up.
    assert AuditEvent.objects.filter(action="sessions.ended").count() == 1


@pytest.fixture
def customer_grant(world, dave, sandbox):
    """Bob's on-request grant of Production in Acme's own AWS account (not the portal's)."""
    iam = iam_in(sandbox, CUSTOMER_ACCOUNT)
    arn = make_role(
        iam, "Production", trust=trusting_the_portal(world.tenant_a), max_session_seconds=43200
    )
    make_role(iam, ADMINISTRATION_ROLE, trust=trusting_the_portal(world.tenant_a))
    return services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=arn,
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[dave],
        max_activation_seconds=7200,
    )


def test_ending_a_window_early_reaches_a_role_in_the_tenants_account(
    bob_client, world, dave, customer_grant
):
    world.tenant_a.administration_role_name = ADMINISTRATION_ROLE
    world.tenant_a.save()
    access = approved(world, customer_grant, dave)
    link = console_url(open_console(bob_client, customer_grant))
    assert follow(link).status_code == 200

    response = bob_client.post(f"/requests/{access.pk}/end/", follow=True)

    assert "Every session of this role bob opened before" in response.content.decode()
    assert follow(link).status_code == 403
    assert AuditEvent.objects.get(action="sessions.ended").role_arn == customer_grant.role_arn


def test_without_a_way_into_the_account_the_window_ends_and_the_record_says_why(
    bob_client, world, dave, customer_grant
):
    access = approved(world, customer_grant, dave)
    link = console_url(open_console(bob_client, customer_grant))

    response = bob_client.post(f"/requests/{access.pk}/end/", follow=True)

    page = html.unescape(response.content.decode())
    assert f"Portcullis cannot reach IAM in account {CUSTOMER_ACCOUNT}" in page
    assert "The live sessions run until" in page
    assert state_of(access) == "ended"
    assert follow(link).status_code == 200  # AWS was told nothing: it lives to its end
    failed = AuditEvent.objects.get(action="sessions.failed")
    assert failed.error_code == "NoAdministrationRole"
    assert "name an administration role" in failed.detail
