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
        alice_client.get("/admin/federation/auditevent/", {"q": label, "action__exact": role_arn}),
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
