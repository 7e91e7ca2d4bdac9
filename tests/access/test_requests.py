"""Asking for access, deciding, cancelling, expiring and break-glass, through the pages."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from access.models import AccessRequest, Decision
from audit.models import AuditEvent
from federation import services
from federation.models import AwsAccount, RoleMapping
from tests.access.conftest import (
    ask,
    client_for,
    decide,
    file,
    globex_approver,
    state_of,
    with_authenticator,
)
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def records(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- the roles page and filing ------------------------------------------------------------


def test_an_on_request_grant_offers_a_request_form_and_no_console_button(
    bob_client, on_request, bob_grant
):
    page = bob_client.get("/").content.decode()
    card = page[page.index(f'id="role-{on_request.pk}"') :]
    card = card[: card.index("</li>")]
    assert "Request access" in card
    assert f'action="/requests/new/{on_request.pk}/"' in card
    assert f'action="/console/{on_request.pk}/"' not in card
    # The standing grant beside it works as before.
    assert f'action="/console/{bob_grant.pk}/"' in page


def test_bob_asks_and_waits_for_dave(bob_client, world, on_request, dave):
    response = ask(bob_client, on_request, ticket="CHG-1234")
    assert response.status_code == 302
    access = AccessRequest.objects.unscoped("test").get()
    assert (access.state, access.seconds, access.ticket) == ("pending", 3600, "CHG-1234")
    assert access.tenant == world.tenant_a
    created = records("request.created")[-1]
    assert created.actor == world.bob and created.mapping_id == on_request.pk
    assert "CHG-1234" in created.detail and "Rotate the prod database keys" in created.detail
    page = bob_client.get("/").content.decode()
    assert "Waiting for approval" in page and "dave" in page
    assert f'action="/requests/{access.pk}/cancel/"' in page


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"justification": "short"}, "at least 10"),
        ({"duration": 600}, "Choose a window"),
        ({"duration": 7201}, "Choose a window"),
        ({"duration": "lots"}, "Choose a window"),
        ({"ticket": "x" * 101}, "at most 100"),
        ({"ticket": "CHG\x07"}, "printable"),
    ],
)
def test_a_bad_request_comes_back_with_a_message_and_what_was_typed(
    bob_client, on_request, fields, message
):
    data = {"justification": "A reason long enough", **fields}
    response = ask(bob_client, on_request, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    if "justification" not in fields:
        assert "A reason long enough" in response.content.decode()
    assert not AccessRequest.objects.unscoped("test").exists()
    assert records("request.refused")[-1].error_code == "InvalidChoice"


def test_a_ticket_is_asked_for_where_the_grant_requires_one(bob_client, on_request):
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(ticket_required=True)
    response = ask(bob_client, on_request)
    assert response.status_code == 400
    assert "needs a ticket" in response.content.decode()
    assert ask(bob_client, on_request, ticket="INC-9").status_code == 302


def test_one_open_request_per_person_and_grant(bob_client, on_request):
    assert ask(bob_client, on_request).status_code == 302
    again = ask(bob_client, on_request)
    assert again.status_code == 409
    assert "already have a request" in again.content.decode()
    assert AccessRequest.objects.unscoped("test").count() == 1


def test_a_standing_grant_or_another_tenants_grant_cannot_be_requested(
    bob_client, world, bob_grant, on_request
):
    assert ask(bob_client, bob_grant).status_code == 404
    globex = services.grant_role(
        actor=None,
        tenant=world.tenant_b,
        user=world.carol,
        role_arn="arn:aws:iam::222222222222:role/GlobexAdmin",
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[globex_approver(world)],
        approvals_needed=1,
    )
    assert ask(bob_client, globex).status_code == 404
    refused = records("request.refused")
    assert [r.tenant for r in refused] == [world.tenant_a, world.tenant_a]
    assert refused[-1].role_arn == ""  # another tenant's grant is never named


def test_nobody_but_the_requester_can_approve_so_the_request_is_refused(
    bob_client, world, demo_role
):
    # A team grant whose only approver is bob: valid for the team, useless to bob.
    team = TeamFactory(tenant=world.tenant_a, name="oncall")
    team.members.add(world.bob)
    solo = services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        team=team,
        role_arn=demo_role,
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[world.bob],
    )
    response = ask(bob_client, solo)
    assert response.status_code == 400
    assert "Nobody else can approve" in response.content.decode()


def test_a_grant_nobody_but_its_holder_could_approve_is_refused(world, demo_role):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="only 0 people besides bob can approve"):
        services.grant_role(
            actor=world.alice,
            tenant=world.tenant_a,
            user=world.bob,
            role_arn=demo_role,
            activation=RoleMapping.Activation.ON_REQUEST,
            approvers=[world.bob],
        )


# --- deciding -----------------------------------------------------------------------------


def test_dave_approves_and_bob_gets_a_window(world, on_request, dave_client, bob_client):
    access = file(world, on_request)
    AwsAccount.objects.create(
        tenant=world.tenant_a, account_id=on_request.role.account_id, name="Production"
    )
    queue = dave_client.get("/approvals/").content.decode()
    assert f'id="approval-{access.pk}"' in queue
    assert "Rotate the prod database keys" in queue and on_request.role_arn in queue
    assert f'Production <span class="mono muted">{on_request.role.account_id}</span>' in queue
    assert 'aria-label="1 waiting"' in queue  # the navigation badge
    before = timezone.now()
    response = decide(dave_client, access, comment="go ahead")
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.state == "active"
    assert before + timedelta(seconds=3600) <= access.ends_at
    assert access.ends_at <= timezone.now() + timedelta(seconds=3600)
    assert [r.actor_username for r in records("request.approved")] == ["dave"]
    assert records("request.activated")[-1].detail.startswith(f"#{access.pk} window until")
    page = bob_client.get("/").content.decode()
    assert f'Active until <time datetime="{access.ends_at.isoformat()}"' in page
    assert f'action="/console/{on_request.pk}/"' in page
    assert f'action="/requests/{access.pk}/end/"' in page
    assert 'aria-label="1 waiting"' not in dave_client.get("/approvals/").content.decode()


def test_a_denial_ends_the_request(world, on_request, dave_client, bob_client):
    access = file(world, on_request)
    assert decide(dave_client, access, "deny", "not during the freeze").status_code == 302
    assert state_of(access) == "denied"
    assert "not during the freeze" in records("request.denied")[-1].detail
    mine = bob_client.get("/requests/").content.decode()
    assert "dave: denied" in mine and "not during the freeze" in mine


def test_recent_decisions_say_who_decided(world, on_request, dave_client, erin):
    on_request.approvers.add(erin)
    decide(client_for(erin), file(world, on_request), "deny")
    decide(dave_client, file(world, on_request))

    page = dave_client.get("/approvals/").content.decode()
    recent = page.split("<h2>Recent decisions</h2>")[1]
    assert "active · dave: approved" in recent and "denied · erin: denied" in recent


def test_bob_cannot_approve_his_own_request_even_as_an_approver(world, on_request, erin):
    on_request.approvers.add(world.bob, erin)
    access = file(world, on_request)
    response = decide(client_for(with_authenticator(world.bob)), access)
    assert response.status_code == 403
    assert "cannot decide your own request" in response.content.decode()
    assert state_of(access) == "pending"
    assert not Decision.objects.unscoped("test").exists()
    refused = records("request.refused")[-1]
    assert refused.actor == world.bob and refused.tenant == world.tenant_a


def test_bob_cannot_approve_his_own_request_through_a_team(world, on_request, dave):
    team = TeamFactory(tenant=world.tenant_a, name="dba")
    team.members.add(world.bob, dave)
    on_request.approvers.clear()
    on_request.approver_teams.add(team)
    access = file(world, on_request)
    assert decide(client_for(with_authenticator(world.bob)), access).status_code == 403
    assert decide(client_for(dave), access).status_code == 302
    assert state_of(access) == "active"


def test_two_approvals_count_distinct_people(world, on_request, dave, erin):
    on_request.approvers.add(erin)
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(approvals_needed=2)
    access = file(world, on_request)
    dave_client = client_for(dave)
    assert decide(dave_client, access).status_code == 302
    assert state_of(access) == "pending"
    again = decide(dave_client, access)
    assert again.status_code == 409
    assert "already decided" in again.content.decode()
    assert state_of(access) == "pending"
    erin_client = client_for(erin)
    assert "1 of 2 (dave)" in erin_client.get("/approvals/").content.decode()
    assert decide(erin_client, access).status_code == 302
    assert state_of(access) == "active"
    assert len(records("request.approved")) == 2
    assert len(records("request.activated")) == 1


def test_a_non_approver_of_the_same_tenant_is_refused(world, on_request, erin):
    access = file(world, on_request)
    response = decide(client_for(erin), access)
    assert response.status_code == 403
    assert "not an approver" in response.content.decode()
    assert state_of(access) == "pending"
    assert records("request.refused")[-1].actor == erin


def test_another_tenants_approver_gets_a_404(world, on_request):
    access = file(world, on_request)
    gertrude = with_authenticator(UserFactory(username="gertrude"))
    MembershipFactory(user=gertrude, tenant=world.tenant_b, role="admin")
    response = decide(client_for(gertrude), access)
    assert response.status_code == 404
    assert b"Rotate" not in response.content
    refused = records("request.refused")[-1]
    assert refused.tenant == world.tenant_b  # seen by Globex's admins, naming nothing of Acme's
    assert refused.role_arn == ""


def test_deciding_needs_a_second_factor(world, on_request):
    nofactor = UserFactory(username="nofactor")
    MembershipFactory(user=nofactor, tenant=world.tenant_a)
    on_request.approvers.add(nofactor)
    access = file(world, on_request)
    response = decide(client_for(nofactor), access)
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/"
    assert state_of(access) == "pending"


def test_deciding_needs_a_recent_sign_in(world, on_request, dave_client, settings):
    import time

    from core.sessions import AUTHENTICATED_AT

    access = file(world, on_request)
    session = dave_client.session
    session[AUTHENTICATED_AT] = time.time() - settings.REAUTH_SECONDS - 60
    session.save()
    response = decide(dave_client, access, comment="Checked with bob's lead")
    assert response.status_code == 302
    assert response["Location"] == (f"/login/confirm/?next=%2Fapprovals%2F%23approval-{access.pk}")
    assert state_of(access) == "pending"

    # Confirmed: back on the approvals page, the comment typed before is in its box, once.
    session = dave_client.session
    session[AUTHENTICATED_AT] = time.time()
    session.save()
    page = dave_client.get("/approvals/").content.decode()
    assert 'value="Checked with bob&#x27;s lead" autofocus' in page
    assert "choose Approve or Deny again" in page
    again = dave_client.get("/approvals/").content.decode()
    assert "Checked with bob" not in again
    assert decide(dave_client, access, comment="Checked with bob's lead").status_code == 302
    assert state_of(access) == "active"
    assert access.decisions.get().comment == "Checked with bob's lead"


def test_a_comment_typed_before_setting_up_a_second_factor_is_kept(world, on_request):
    nofactor = UserFactory(username="nofactor")
    MembershipFactory(user=nofactor, tenant=world.tenant_a)
    on_request.approvers.add(nofactor)
    access = file(world, on_request)
    client = client_for(nofactor)
    assert decide(client, access, decision="deny", comment="Not this week").status_code == 302
    page = client.get("/approvals/").content.decode()
    card = page.split(f'id="approval-{access.pk}"')[1].split("</section>")[0]
    assert 'value="Not this week" autofocus' in card
    assert state_of(access) == "pending"


def test_a_pending_request_past_its_deadline_expires_instead_of_being_approved(
    world, on_request, dave_client, settings
):
    settings.ACCESS_REQUEST_TTL = 600
    access = file(world, on_request)
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        response = decide(dave_client, access)
    assert response.status_code == 409
    assert "expired" in response.content.decode()
    assert state_of(access) == "expired"
    assert len(records("request.expired")) == 1


# --- cancelling -----------------------------------------------------------------------------


def test_bob_cancels_a_waiting_request_and_may_ask_again(world, on_request, bob_client):
    access = file(world, on_request)
    assert bob_client.post(f"/requests/{access.pk}/cancel/").status_code == 302
    assert state_of(access) == "cancelled"
    assert records("request.cancelled")[-1].actor == world.bob
    assert bob_client.post(f"/requests/{access.pk}/cancel/").status_code == 409
    assert ask(bob_client, on_request).status_code == 302


def test_only_the_requester_cancels(world, on_request, dave_client):
    access = file(world, on_request)
    assert dave_client.post(f"/requests/{access.pk}/cancel/").status_code == 403
    assert state_of(access) == "pending"


def test_an_approved_request_cannot_be_cancelled(world, on_request, dave_client, bob_client):
    access = file(world, on_request)
    decide(dave_client, access)
    response = bob_client.post(f"/requests/{access.pk}/cancel/")
    assert response.status_code == 409
    assert state_of(access) == "active"


def test_requests_are_post_only_and_other_tenants_see_nothing(world, on_request):
    access = file(world, on_request)
    carol = client_for(world.carol)
    assert carol.get("/requests/").status_code == 200
    assert b"Rotate" not in carol.get("/requests/").content
    assert carol.post(f"/requests/{access.pk}/cancel/").status_code == 404
    assert carol.post(f"/requests/{access.pk}/end/").status_code == 404
    assert client_for(world.bob).get(f"/requests/{access.pk}/cancel/").status_code == 405


# --- break-glass --------------------------------------------------------------------------


def test_break_glass_opens_at_once_and_waits_for_a_review(world, on_request, bob_client, dave):
    response = ask(bob_client, on_request, break_glass="on", justification="Prod is down, INC-7")
    assert response.status_code == 302
    access = AccessRequest.objects.unscoped("test").get()
    assert access.state == "active" and access.break_glass and access.activated_at
    assert [r.action for r in AuditEvent.objects.order_by("id")][-3:] == [
        "request.created",
        "breakglass.activated",
        "request.activated",
    ]
    dave_client = client_for(dave)
    queue = dave_client.get("/approvals/").content.decode()
    assert f'id="review-{access.pk}"' in queue
    assert 'aria-label="1 waiting"' in queue  # a review waits as a decision does
    assert dave_client.post(f"/approvals/{access.pk}/review/", {"comment": ""}).status_code == 400
    reviewed = dave_client.post(
        f"/approvals/{access.pk}/review/", {"comment": "checked the incident, fine"}
    )
    assert reviewed.status_code == 302
    access.refresh_from_db()
    assert access.reviewed_by == dave and access.reviewed_at
    assert "checked the incident" in records("breakglass.reviewed")[-1].detail
    assert f'id="review-{access.pk}"' not in dave_client.get("/approvals/").content.decode()


def test_break_glass_is_refused_where_the_grant_does_not_allow_it(bob_client, on_request):
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(break_glass=False)
    response = ask(bob_client, on_request, break_glass="on")
    assert response.status_code == 400
    assert not AccessRequest.objects.unscoped("test").exists()


def test_unreviewed_break_glass_is_listed_for_the_tenant_admin(world, on_request):
    access = file(world, on_request, break_glass=True)
    alice = client_for(world.alice)
    listing = alice.get("/admin/access/accessrequest/", {"review": "waiting"})
    assert listing.status_code == 200
    assert f"/admin/access/accessrequest/{access.pk}/change/" in listing.content.decode()
    page = alice.get(f"/admin/access/accessrequest/{access.pk}/change/")
    assert page.status_code == 200
    assert b"Rotate the prod database keys" in page.content
    # Read-only: no save button, no delete.
    assert b'name="_save"' not in page.content


def test_once_escalated_a_tenant_admin_may_decide_and_not_before(world, on_request, dave):
    from access.services.clock_steps import escalate

    access = file(world, on_request)
    alice = client_for(world.alice)
    assert f'id="approval-{access.pk}"' not in alice.get("/approvals/").content.decode()
    assert decide(alice, access).status_code == 403
    escalate(access, now=timezone.now())
    assert f'id="approval-{access.pk}"' in alice.get("/approvals/").content.decode()
    assert decide(alice, access).status_code == 302
    assert state_of(access) == "active"


def test_a_tenant_admin_reviews_break_glass_use_too(world, on_request):
    access = file(world, on_request, break_glass=True)
    alice = client_for(world.alice)
    assert f'id="review-{access.pk}"' in alice.get("/approvals/").content.decode()
    reviewed = alice.post(f"/approvals/{access.pk}/review/", {"comment": "seen, it was INC-7"})
    assert reviewed.status_code == 302
    assert records("breakglass.reviewed")[-1].actor == world.alice


def test_a_review_comment_over_the_limit_says_so(world, on_request, dave):
    access = file(world, on_request, break_glass=True)
    response = client_for(dave).post(f"/approvals/{access.pk}/review/", {"comment": "x" * 1001})
    assert response.status_code == 400
    assert "at most 1000 characters" in response.content.decode()


def test_filing_is_limited_so_approvers_are_not_flooded(bob_client, world, on_request):
    for _ in range(10):
        assert ask(bob_client, on_request).status_code == 302
        access = AccessRequest.objects.unscoped("test").get(state="pending")
        bob_client.post(f"/requests/{access.pk}/cancel/")
    refused = ask(bob_client, on_request)
    assert refused.status_code == 429
    assert "Try again in" in refused.content.decode()
    assert records("request.refused")[-1].error_code == "RateLimited"


def test_the_approvals_link_is_for_approvers_and_tenant_admins(world, on_request, dave, erin):
    def has_link(person):
        return 'id="nav-approvals"' in client_for(person).get("/").content.decode()

    assert has_link(dave) and has_link(world.alice)
    assert not has_link(world.bob) and not has_link(erin)
    team = TeamFactory(tenant=world.tenant_a, name="dba")
    team.members.add(erin)
    on_request.approver_teams.add(team)
    assert has_link(erin)
    # Approving in Globex's grants would not make carol an approver in Acme, nor bob in Globex.
    assert not has_link(world.carol)
    # Named on a grant no longer used on request: nothing to approve.
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(activation="standing")
    assert not has_link(dave) and not has_link(erin)
    assert has_link(world.alice)  # who runs the tenant
