"""Access requests over the JSON API, with a personal API token, and CLI credentials for an
on-request grant before and after the approval."""

from datetime import datetime

import pytest

from access.models import AccessRequest
from audit.models import AuditEvent
from federation import services
from federation.models import RoleMapping
from tests.access.conftest import client_for, decide, file, globex_approver, state_of
from tests.federation.test_cli_and_api import create_token

pytestmark = pytest.mark.django_db

REASON = "Rotate the prod database keys"


def token_for(user):
    return create_token(client_for(user))


@pytest.fixture
def bob_token(world):
    return token_for(world.bob)


def post(client, token, body, *, raw=None):
    return client.post(
        "/api/v1/requests",
        raw if raw is not None else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def get(client, token, path):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def moment(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


# --- filing ---------------------------------------------------------------------------------


def test_bob_files_a_request_over_the_api(client, world, on_request, bob_token):
    response = post(
        client,
        bob_token,
        {"role": on_request.pk, "seconds": 1800, "justification": REASON, "ticket": "CHG-7"},
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    access = AccessRequest.objects.unscoped("test").get()
    assert body["id"] == access.pk
    assert (body["state"], body["role"], body["seconds"]) == ("pending", on_request.pk, 1800)
    assert (body["justification"], body["ticket"], body["tenant"]) == (REASON, "CHG-7", "acme")
    assert body["seconds_left"] == 0 and body["ends_at"] is None and body["decisions"] == []
    assert (access.requester, access.state) == (world.bob, "pending")
    created = AuditEvent.objects.get(action="request.created")
    assert created.actor == world.bob and created.mapping_id == on_request.pk
    assert created.duration_seconds == 1800 and REASON in created.detail


def test_no_seconds_means_one_hour(client, on_request, bob_token):
    response = post(client, bob_token, {"role": on_request.pk, "justification": REASON})
    assert response.status_code == 201
    assert response.json()["seconds"] == 3600


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", "Send a JSON object"),
        ("[1, 2]", "Send a JSON object"),
        ('"a string"', "Send a JSON object"),
    ],
)
def test_a_body_that_is_no_json_object_is_refused(client, on_request, bob_token, raw, message):
    response = post(client, bob_token, None, raw=raw)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert response.json()["code"] == "InvalidChoice"
    assert not AccessRequest.objects.unscoped("test").exists()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"role": "1"}, '"role" is the id'),
        ({"role": True}, '"role" is the id'),
        ({"role": None}, '"role" is the id'),
        ({"role": -1}, '"role" is the id'),
        ({"seconds": "3600"}, '"seconds" is a whole number'),
        ({"seconds": 3600.0}, '"seconds" is a whole number'),
        ({"seconds": False}, '"seconds" is a whole number'),
        ({"justification": 12345678901}, '"justification" is text'),
        ({"ticket": ["CHG-1"]}, '"ticket" is text'),
        ({"justification": None}, '"justification" is text'),
        ({"justification": ""}, "Say why you need access"),
        ({"justification": "short"}, "at least 10"),
        ({"seconds": 600}, "Choose a window"),
        ({"seconds": 7201}, "Choose a window"),
    ],
)
def test_wrong_types_and_missing_fields_are_refused_clearly(
    client, on_request, bob_token, fields, message
):
    body = {"role": on_request.pk, "seconds": 3600, "justification": REASON, **fields}
    response = post(client, bob_token, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not AccessRequest.objects.unscoped("test").exists()


def test_a_missing_justification_is_refused(client, on_request, bob_token):
    response = post(client, bob_token, {"role": on_request.pk, "seconds": 3600})
    assert response.status_code == 400
    assert "Say why you need access" in response.json()["error"]
    assert AuditEvent.objects.filter(action="request.refused").exists()


def test_a_second_open_request_is_refused(client, on_request, bob_token):
    body = {"role": on_request.pk, "justification": REASON}
    assert post(client, bob_token, body).status_code == 201
    again = post(client, bob_token, body)
    assert again.status_code == 409
    assert "already have a request" in again.json()["error"]


def test_a_standing_grant_or_another_tenants_grant_is_not_found(
    client, world, on_request, bob_grant, bob_token
):
    globex = services.grant_role(
        actor=None,
        tenant=world.tenant_b,
        user=world.carol,
        role_arn="arn:aws:iam::222222222222:role/GlobexAdmin",
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[globex_approver(world)],
        approvals_needed=1,
    )
    for grant in (bob_grant, globex):
        response = post(client, bob_token, {"role": grant.pk, "justification": REASON})
        assert response.status_code == 404
        assert response.json()["code"] == "GrantNotFound"
    assert not AccessRequest.objects.unscoped("test").exists()
    refused = AuditEvent.objects.filter(action="request.refused").order_by("id")
    assert [event.tenant for event in refused] == [world.tenant_a, world.tenant_a]


# --- reading ---------------------------------------------------------------------------------


def test_the_list_filters_by_role_and_open_state(
    client, world, on_request, demo_role, dave, bob_token
):
    other = services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=demo_role,
        label="Acme admin, second grant",
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[dave],
    )
    denied = file(world, on_request)
    assert decide(client_for(dave), denied, "deny", "Not today").status_code == 302
    waiting = file(world, on_request)
    elsewhere = file(world, other)

    def ids(query):
        response = get(client, bob_token, f"/api/v1/requests{query}")
        assert response.status_code == 200
        return [access["id"] for access in response.json()["requests"]]

    assert ids("") == [elsewhere.pk, waiting.pk, denied.pk]  # newest first
    assert ids(f"?role={on_request.pk}") == [waiting.pk, denied.pk]
    assert ids(f"?role={on_request.pk}&state=open") == [waiting.pk]
    assert ids("?state=open") == [elsewhere.pk, waiting.pk]
    nonsense = get(client, bob_token, "/api/v1/requests?role=nonsense")
    assert nonsense.status_code == 400 and "id of one of your grants" in nonsense.json()["error"]
    assert ids(f"?role={on_request.pk + 1000}") == []


def test_the_detail_shows_the_decisions(client, world, on_request, dave, bob_token):
    access = file(world, on_request)
    assert decide(client_for(dave), access, "deny", "Use the runbook role").status_code == 302
    response = get(client, bob_token, f"/api/v1/requests/{access.pk}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["id"], body["state"]) == (access.pk, "denied")
    assert body["decisions"] == [
        {"by": "dave", "decision": "deny", "comment": "Use the runbook role"}
    ]


def test_someone_elses_request_is_not_found(client, world, on_request, dave):
    access = file(world, on_request)
    # dave approves it, alice runs the tenant: neither sees it as theirs over the API.
    for person in (dave, world.alice, world.carol):
        response = get(client, token_for(person), f"/api/v1/requests/{access.pk}")
        assert response.status_code == 404
        assert "error" in response.json()
        listed = get(client, token_for(person), "/api/v1/requests").json()["requests"]
        assert listed == []


@pytest.mark.parametrize("header", ["", "Bearer nope", "Basic Ym9iOmJvYg=="])
def test_a_token_is_required(client, world, on_request, header):
    access = file(world, on_request)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    client.force_login(world.bob)  # a browser session is not enough
    calls = [
        client.get("/api/v1/requests", **extra),
        client.get(f"/api/v1/requests/{access.pk}", **extra),
        client.post(
            "/api/v1/requests",
            {"role": on_request.pk, "justification": REASON},
            content_type="application/json",
            **extra,
        ),
    ]
    for response in calls:
        assert response.status_code == 401
        assert response.json()["error"] == "A valid API token is required."
    assert AccessRequest.objects.unscoped("test").count() == 1


# --- credentials inside the window ------------------------------------------------------------


def test_credentials_only_once_dave_approves_and_never_past_the_window(
    client, world, on_request, dave, sandbox, bob_token
):
    def credentials():
        return client.post(
            f"/api/v1/credentials/{on_request.pk}",
            {"duration": "43200"},
            HTTP_AUTHORIZATION=f"Bearer {bob_token}",
        )

    refused = credentials()
    assert refused.status_code == 403
    assert refused.json()["code"] == "AccessWindowRequired"
    assert "used on request" in refused.json()["error"]

    filed = post(
        client, bob_token, {"role": on_request.pk, "seconds": 1800, "justification": REASON}
    )
    access_id = filed.json()["id"]
    assert credentials().status_code == 403  # still waiting
    assert sandbox.calls["sts:AssumeRole"] == 0

    access = AccessRequest.objects.unscoped("test").get(pk=access_id)
    assert decide(client_for(dave), access).status_code == 302
    assert state_of(access) == "active"
    shown = get(client, bob_token, f"/api/v1/requests/{access_id}").json()
    assert shown["state"] == "active" and 1790 <= shown["seconds_left"] <= 1800
    assert shown["decisions"] == [{"by": "dave", "decision": "approve", "comment": ""}]

    issued = credentials()
    assert issued.status_code == 200
    payload = issued.json()
    (session,) = sandbox.sessions.values()
    assert payload["Version"] == 1 and payload["AccessKeyId"] == session.access_key_id
    # Twelve hours asked for: the window's half hour wins.
    assert moment(payload["Expiration"]) <= moment(shown["ends_at"])
    events = AuditEvent.objects.filter(action="cli.issued")
    assert events.get().detail == f"under access request #{access_id}"
