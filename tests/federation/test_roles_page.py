"""The roles page as people use it: find a role, and links to one role that open nothing."""

import re
import time
from urllib.parse import urlencode

import pytest

from audit.models import AuditEvent
from core.sessions import AUTHENTICATED_AT
from federation import services
from federation.models import AwsAccount
from tests.conftest import PASSWORD, READ_ONLY_POLICY

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_roles(world, bob_grant, sandbox):
    reader_arn = services.create_broker_role(
        name="AcmeReader",
        tenant=world.tenant_a,
        max_session_seconds=3600,
        policy_document=READ_ONLY_POLICY,
    )
    reader = services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=reader_arn,
        label="Billing reader",
        max_session_seconds=3600,
    )
    return bob_grant, reader


def role_ids(page):
    return [int(n) for n in re.findall(r'<li class="card role" id="role-(\d+)"', page)]


@pytest.mark.parametrize("kind", ["console", "cli"])
def test_a_link_to_a_role_shows_it_and_issues_nothing(client, world, two_roles, kind):
    admin, reader = two_roles
    client.force_login(world.bob)
    issued_before = AuditEvent.objects.filter(action__endswith=".requested").count()

    response = client.get(f"/{kind}/{reader.pk}/")

    assert response.status_code == 302 and response["Location"] == f"/?role={reader.pk}"
    page = client.get(response["Location"]).content.decode()
    assert role_ids(page) == [reader.pk]
    assert "Showing one role" in page and 'value="3600"' in page
    assert AuditEvent.objects.filter(action__endswith=".requested").count() == issued_before


def test_a_link_to_a_role_waits_for_the_sign_in(client, world, two_roles):
    _, reader = two_roles

    response = client.get(f"/console/{reader.pk}/")

    assert response["Location"] == f"/login/?next=/console/{reader.pk}/"


def test_a_link_to_someone_elses_role_is_not_found(client, world, two_roles):
    _, reader = two_roles
    client.force_login(world.carol)

    assert client.get(f"/?role={reader.pk}").status_code == 404
    assert client.get("/?role=abc").status_code == 404


def test_a_link_to_a_role_that_is_not_yours_says_so_above_your_own_roles(client, world, two_roles):
    admin, reader = two_roles
    client.force_login(world.bob)
    gone = reader.pk + 1000

    response = client.get(f"/console/{gone}/", follow=True)

    assert response.status_code == 404
    page = response.content.decode()
    assert "That role is not yours, or no longer exists." in page
    assert role_ids(page) == [admin.pk, reader.pk] and "Showing one role" not in page
    # Someone else's role gets the same answer: it is not theirs.
    client.force_login(world.carol)
    theirs = client.get(f"/?role={reader.pk}")
    assert theirs.status_code == 404 and "That role is not yours" in theirs.content.decode()


def test_find_a_role_by_label_role_account_or_tenant(client, world, two_roles):
    admin, reader = two_roles
    client.force_login(world.bob)

    assert role_ids(client.get("/", {"q": "billing"}).content.decode()) == [reader.pk]
    assert role_ids(client.get("/", {"q": "acmereader"}).content.decode()) == [reader.pk]
    assert set(role_ids(client.get("/", {"q": "acme 123456789012"}).content.decode())) == {
        admin.pk,
        reader.pk,
    }
    page = client.get("/", {"q": "BILLING   reader"}).content.decode()
    assert role_ids(page) == [reader.pk] and "1 of 2 roles" in page
    nothing = client.get("/", {"q": "globex"}).content.decode()
    assert role_ids(nothing) == [] and "No role matches" in nothing


@pytest.mark.parametrize("q", ["x" * 5000, "\u202e<script>", "%00", "  "])
def test_odd_searches_get_a_page(client, world, two_roles, q):
    client.force_login(world.bob)
    assert client.get("/", {"q": q}).status_code == 200


def test_a_form_sent_again_issues_nothing_more(client, world, two_roles, sandbox):
    admin, _ = two_roles
    client.force_login(world.bob)
    page = client.get("/").content.decode()
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)
    form = {"duration": "3600", "once": once}

    first = client.post(f"/console/{admin.pk}/", form)
    again = client.post(f"/console/{admin.pk}/", form)  # a reload of the result page

    assert first.status_code == 200 and b"Session is valid for 1 hour" in first.content
    assert again.status_code == 409 and b"already opened" in again.content
    assert f"/?role={admin.pk}".encode() in again.content
    assert sandbox.calls["sts:AssumeRole"] == 1
    # Recorded where the tenant's admins see it; AWS was not asked.
    refused = AuditEvent.objects.get(action="console.denied")
    assert refused.error_code == "AlreadyShown" and refused.tenant == world.tenant_a
    # A new page is a new form.
    fresh = re.search(r'name="once" value="([^"]+)"', client.get("/").content.decode()).group(1)
    assert fresh != once
    assert client.post(f"/console/{admin.pk}/", {**form, "once": fresh}).status_code == 200


def test_one_page_opens_each_of_its_roles_and_both_kinds(client, world, two_roles, sandbox):
    admin, reader = two_roles
    client.force_login(world.bob)
    once = re.search(r'name="once" value="([^"]+)"', client.get("/").content.decode()).group(1)
    form = {"duration": "3600", "once": once}

    assert client.post(f"/console/{admin.pk}/", form).status_code == 200
    assert client.post(f"/console/{reader.pk}/", form).status_code == 200
    assert client.post(f"/cli/{admin.pk}/", form).status_code == 200
    assert sandbox.calls["sts:AssumeRole"] == 3


def test_confirming_it_is_you_keeps_the_form_usable(client, world, two_roles, sandbox, settings):
    admin, _ = two_roles
    client.force_login(world.bob)
    once = re.search(r'name="once" value="([^"]+)"', client.get("/").content.decode()).group(1)
    session = client.session
    session[AUTHENTICATED_AT] = time.time() - settings.REAUTH_SECONDS - 60
    session.save()
    form = {"duration": "3600", "once": once}

    stale = client.post(f"/console/{admin.pk}/", form)

    assert stale.status_code == 302
    assert stale["Location"] == "/login/confirm/?" + urlencode({"next": f"/?role={admin.pk}"})
    confirmed = client.post("/login/confirm/", {"password": PASSWORD, "next": f"/?role={admin.pk}"})
    assert confirmed["Location"] == f"/?role={admin.pk}"
    assert client.post(f"/console/{admin.pk}/", form).status_code == 200
    assert sandbox.calls["sts:AssumeRole"] == 1


def test_a_failed_issuance_may_be_sent_again(client, world, two_roles, sandbox):
    admin, _ = two_roles
    client.force_login(world.bob)
    form = {"duration": "999999", "once": "same-form"}

    assert client.post(f"/console/{admin.pk}/", form).status_code == 400
    assert client.post(f"/console/{admin.pk}/", {**form, "duration": "3600"}).status_code == 200


def test_the_helper_downloads_and_the_cli_page_has_this_roles_profile(
    client, world, two_roles, sandbox, settings
):
    admin, _ = two_roles
    helper = client.get("/tools/portcullis-credentials")
    body = b"".join(helper.streaming_content)
    assert helper.status_code == 200 and body.startswith(b"#!/usr/bin/env python3")
    assert "attachment" in helper["Content-Disposition"]

    AwsAccount.objects.create(tenant=world.tenant_a, account_id=admin.role.account_id, name="Tools")
    client.force_login(world.bob)
    page = client.post(f"/cli/{admin.pk}/", {"duration": "3600"}).content.decode()
    assert f'Tools <span class="mono muted">{admin.role.account_id}</span>' in page
    assert (
        f"--url http://testserver/ --token-file ~/.config/portcullis/token --role {admin.pk}"
        in page
    )
    assert f"export AWS_ENDPOINT_URL_STS={settings.AWS_SANDBOX_URL}</code>" in page
    install = "curl -fsS http://testserver/tools/portcullis-credentials -o ~/.local/bin/"
    assert install in page and "chmod +x ~/.local/bin/portcullis-credentials" in page
    assert install in client.get("/tokens/").content.decode()


def test_a_starred_role_comes_first_and_unstars(client, world, two_roles):
    admin, reader = two_roles
    client.force_login(world.bob)
    assert role_ids(client.get("/").content.decode()) == [admin.pk, reader.pk]

    starred = client.post(f"/roles/{reader.pk}/star/")

    assert starred["Location"] == f"/#role-{reader.pk}"
    page = client.get("/").content.decode()
    assert role_ids(page) == [reader.pk, admin.pk]
    assert '<h2 id="starred">Starred</h2>' in page and "★ Starred" in page
    client.post(f"/roles/{reader.pk}/star/")
    assert role_ids(client.get("/").content.decode()) == [admin.pk, reader.pk]


def test_nobody_stars_a_role_that_is_not_theirs(client, world, two_roles):
    _, reader = two_roles
    client.force_login(world.carol)

    assert client.post(f"/roles/{reader.pk}/star/").status_code == 404
    assert client.get(f"/roles/{reader.pk}/star/").status_code == 405


def test_the_roles_used_last_come_from_the_persons_own_trail(client, world, two_roles):
    admin, reader = two_roles
    client.force_login(world.bob)
    assert "Recently used" not in client.get("/").content.decode()

    client.post(f"/cli/{reader.pk}/", {"duration": "3600"})
    client.post(f"/console/{admin.pk}/", {"duration": "3600"})

    page = client.get("/").content.decode()
    recent = re.search(r'<p class="recent muted">(.*?)</p>', page, re.S).group(1)
    assert recent.index("Acme admin") < recent.index("Billing reader")


def test_accounts_show_by_the_names_the_tenant_gave_them(client, world, two_roles):
    admin_grant, _ = two_roles
    client.force_login(world.alice)
    added = client.post(
        "/admin/federation/awsaccount/add/",
        {"tenant": world.tenant_a.pk, "account_id": "123456789012", "name": "Sandbox prod"},
    )
    assert added.status_code == 302
    bad = client.post(
        "/admin/federation/awsaccount/add/",
        {"tenant": world.tenant_a.pk, "account_id": "12345", "name": "Short"},
    )
    assert "An AWS account ID is 12 digits." in bad.content.decode()
    assert AwsAccount.objects.unscoped("test").count() == 1

    client.force_login(world.bob)
    page = client.get("/").content.decode()
    assert '<h3>Sandbox prod <span class="mono muted">123456789012</span></h3>' in page
    assert role_ids(client.get("/", {"q": "sandbox prod"}).content.decode()) != []
    # Another tenant's people see nothing of it.
    client.force_login(world.carol)
    assert "Sandbox prod" not in client.get("/").content.decode()
