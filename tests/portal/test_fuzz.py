"""Hostile input through every form and endpoint: never a response of 500 or more.

Hypothesis generates long, unicode, control-character, SQL and HTML input and wrong types
and sends it through the test client, signed in where the page needs it. FUZZ_EXAMPLES
sets the examples per endpoint (`make bench` runs many more and reports the count).
"""

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Client
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SEEN = Counter()

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: x=1",
    "' OR '1'='1' --",
    "1; DROP TABLE federation_auditevent; --",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "../../../../etc/passwd",
    "%00%0d%0a",
    '=HYPERLINK("http://evil")',
    "9" * 400,
    "-1",
    "0",
    "1e309",
    "NaN",
    "900.5",
    "９００",
    "٣٦٠٠",
    "arn:aws:iam::123456789012:role/" + "A" * 3000,
    "us-east-1\n",
    "\u202eevil",
    "\ud7ff\ue000\U0010ffff",
    "[]",
    "{}",
    "null",
    "true",
    # Past what a 64-bit id holds, and dates at the ends of the calendar.
    "9223372036854775808",
    "-9223372036854775809",
    "9" * 25,
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59.999999-23:59_1",
    "0001-01-01T00:00:00+23:59_1",
    "2026-01-01T00:00:00+00:00_" + "9" * 25,
]

hostile = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=64),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=3000),
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
    st.lists(st.sampled_from(NASTY), max_size=3).map("".join),
)
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@pytest.fixture(scope="module", autouse=True)
def report():
    """Write how many inputs went to each endpoint where `make bench` reads it."""
    yield
    target = os.environ.get("FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(SEEN)))


def check(name, response):
    SEEN[name] += 1
    status = response.status_code
    assert status < 500, f"{name}: {status}"


@pytest.fixture
def bob_client(world):
    client = Client()
    client.force_login(world.bob)
    return client


@pytest.fixture
def alice_client(world):
    client = Client()
    client.force_login(world.alice)
    return client


@fuzz
@given(username=hostile, password=hostile)
def test_login(world, username, password):
    check("login", Client().post("/login/", {"username": username, "password": password}))


@fuzz
@given(code=hostile, action=hostile)
def test_second_factor(world, code, action):
    client = Client()
    client.force_login(world.alice, verified=False)
    check("verify", client.post("/login/verify/", {"code": code, "next": action}))
    check("two-factor", client.post("/account/two-factor/", {"action": action, "code": code}))
    check("confirm", client.post("/login/confirm/", {"password": code, "code": action}))


@fuzz
@given(duration=hostile, region=hostile, destination=hostile, mapping=hostile)
def test_issuance(bob_client, bob_grant, sandbox, duration, region, destination, mapping):
    data = {"duration": duration, "region": region, "destination": destination}
    check("console", bob_client.post(f"/console/{bob_grant.pk}/", data))
    check("cli", bob_client.post(f"/cli/{bob_grant.pk}/", data))
    check("console-id", bob_client.post(f"/console/{mapping}/", data))


@fuzz
@given(token=hostile, duration=hostile)
def test_api(bob_client, bob_grant, sandbox, token, duration):
    header = {"HTTP_AUTHORIZATION": f"Bearer {token}".replace("\n", " ")}
    check("api-roles", bob_client.get("/api/v1/roles", **header))
    check(
        "api-credentials",
        bob_client.post(f"/api/v1/credentials/{bob_grant.pk}", {"duration": duration}, **header),
    )


@fuzz
@given(
    user=hostile,
    role=hostile,
    action=hostile,
    outcome=hostile,
    since=hostile,
    until=hostile,
    after=hostile,
    tenant=hostile,
)
def test_audit_filters(alice_client, user, role, action, outcome, since, until, after, tenant):
    query = {
        "user": user,
        "role": role,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
        "tenant": tenant,
    }
    check("audit", alice_client.get("/audit/", {**query, "after": after}))
    response = alice_client.get("/audit/export.csv", query)
    if response.status_code == 200:
        b"".join(response.streaming_content)
    check("audit-csv", response)


@fuzz
@given(
    tenant=hostile,
    role_arn=hostile,
    label=hostile,
    users=st.lists(hostile, max_size=3),
    seconds=hostile,
    until=hostile,
    policy=hostile,
    region=hostile,
)
def test_admin_forms(
    alice_client, world, tenant, role_arn, label, users, seconds, until, policy, region
):
    team = TeamFactory(tenant=world.tenant_a)
    grant = {
        "tenant": tenant,
        "role_arn": role_arn,
        "label": label,
        "users": users,
        "teams": [team.pk],
        "max_session_seconds": seconds,
        "destination_path": label,
        "region": region,
        "valid_until_0": until,
        "valid_until_1": until,
        "session_policy": policy,
    }
    check("admin-grant", alice_client.post("/admin/federation/rolemapping/add/", grant))
    check(
        "admin-team",
        alice_client.post(
            "/admin/accounts/team/add/", {"tenant": tenant, "name": label, "members": users}
        ),
    )
    check(
        "admin-changelist",
        alice_client.get("/admin/audit/auditevent/", {"q": label, "action__exact": role_arn}),
    )
    check(
        "admin-autocomplete",
        alice_client.get(
            "/admin/autocomplete/",
            {
                "app_label": "federation",
                "model_name": "rolemapping",
                "field_name": label,
                "term": role_arn,
            },
        ),
    )


@fuzz
@given(name=hostile, token_id=hostile)
def test_tokens(bob_client, name, token_id):
    check("tokens", bob_client.post("/tokens/", {"name": name}))
    check("token-revoke", bob_client.post(f"/tokens/{token_id}/revoke/"))


@pytest.fixture
def on_request_grant(world, demo_role):
    from federation import services
    from federation.models import RoleMapping

    return services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=demo_role,
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[world.alice],
        break_glass=True,
        ticket_required=True,
    )


@fuzz
@given(
    duration=hostile,
    justification=hostile,
    ticket=hostile,
    break_glass=hostile,
    request_id=hostile,
    decision=hostile,
)
def test_access_requests(
    bob_client,
    alice_client,
    on_request_grant,
    duration,
    justification,
    ticket,
    break_glass,
    request_id,
    decision,
):
    from access.models import AccessRequest

    data = {
        "duration": duration,
        "justification": justification,
        "ticket": ticket,
        "break_glass": break_glass,
    }
    check("request-form", bob_client.get(f"/requests/new/{on_request_grant.pk}/"))
    check("request", bob_client.post(f"/requests/new/{on_request_grant.pk}/", data))
    check("request-id", bob_client.post(f"/requests/new/{request_id}/", data))
    latest = AccessRequest.objects.unscoped("fuzz").order_by("-pk").first()
    target = latest.pk if latest else request_id
    check("approvals", alice_client.get("/approvals/"))
    check(
        "decide",
        alice_client.post(f"/approvals/{target}/", {"decision": decision, "comment": ticket}),
    )
    check("review", alice_client.post(f"/approvals/{target}/review/", {"comment": ticket}))
    check("cancel", bob_client.post(f"/requests/{request_id}/cancel/"))
    check("end", bob_client.post(f"/requests/{target}/end/", {"next": decision}))
    check("my-requests", bob_client.get("/requests/"))


@fuzz
@given(body=hostile, role=hostile, seconds=hostile, justification=hostile, query=hostile)
def test_access_request_api(
    bob_client, world, on_request_grant, body, role, seconds, justification, query
):
    from federation.services import create_token

    _, plain = create_token(user=world.bob, name="fuzz", days=1)
    header = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    check(
        "api-request-raw",
        bob_client.post("/api/v1/requests", body, content_type="application/json", **header),
    )
    for value in (role, seconds, justification):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        shaped = {"role": parsed, "seconds": parsed, "justification": justification}
        check(
            "api-request",
            bob_client.post(
                "/api/v1/requests", json.dumps(shaped), content_type="application/json", **header
            ),
        )
    check(
        "api-requests",
        bob_client.get("/api/v1/requests", {"role": query, "state": query}, **header),
    )
    check("api-request-id", bob_client.get(f"/api/v1/requests/{query}", **header))


# Inputs that once answered 500: each must be a clear answer below 500.
HUGE = "9" * 25


@pytest.mark.parametrize("path", [f"/console/{HUGE}/", f"/cli/{HUGE}/", f"/console/{2**63}/"])
def test_huge_ids_are_not_found(bob_client, path):
    assert bob_client.post(path, {"duration": "3600"}).status_code == 404
    assert bob_client.get(path).status_code in {404, 405}


def test_a_huge_id_in_the_api_is_not_found(bob_client, world):
    from federation.services import create_token

    _, plain = create_token(user=world.bob, name="fuzz", days=1)
    response = bob_client.post(f"/api/v1/credentials/{HUGE}", HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"until": "9999-12-31"},
        {"since": "9999-12-31"},
        {"since": "0001-01-01", "until": "0001-01-01"},
        {"after": "9999-12-31T23:59:59.999999-23:59_1"},
        {"after": "0001-01-01T00:00:00+23:59_1"},
        {"after": f"2026-01-01T00:00:00+00:00_{HUGE}"},
        {"after": f"2026-01-01T00:00:00+00:00_{2**63}"},
    ],
)
def test_the_audit_page_and_csv_answer_extreme_filters(alice_client, query):
    for path in ["/audit/", "/audit/export.csv"]:
        response = alice_client.get(path, query)
        if response.status_code == 200 and response.streaming:
            b"".join(response.streaming_content)
        assert response.status_code < 500, (path, query, response.status_code)


@pytest.mark.parametrize("year", ["9999", "10000", "0", HUGE])
def test_the_audit_admin_answers_any_year(alice_client, year):
    response = alice_client.get("/admin/audit/auditevent/", {"created_at__year": year})
    assert response.status_code < 500


def test_a_tenant_admin_adds_a_membership_on_a_persons_page(alice_client, world):
    from accounts.models import Membership, User

    person = User.objects.create_user("newbie", password="correct horse battery")
    Membership.objects.create(user=person, tenant=world.tenant_a)
    page = alice_client.get(f"/admin/accounts/user/{person.pk}/change/")
    assert page.status_code == 200
    form = {
        "username": "newbie",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(person.memberships.get().pk),
        "memberships-0-user": str(person.pk),
        "memberships-0-tenant": str(world.tenant_a.pk),
        "memberships-0-role": "member",
        "memberships-1-id": "",
        "memberships-1-user": str(person.pk),
        "memberships-1-tenant": str(world.tenant_a.pk),
        "memberships-1-role": "admin",
    }
    response = alice_client.post(f"/admin/accounts/user/{person.pk}/change/", form)
    assert response.status_code < 500
