"""Signing in with the company account, through a real OpenID provider on loopback."""

import html
import logging
import re
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import SESSION_KEY

from accounts import sso
from accounts.models import ExternalIdentity, Membership, SignInDomain, Team, User
from audit.models import AuditEvent
from core.sessions import AUTHENTICATED_AT
from federation import services
from federation.models import RoleMapping
from tests.accounts.conftest import (
    IDP_PEOPLE,
    at_provider,
    change_person,
    configure,
    onward,
    sign_in,
    start,
)
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::111111111111:role/AcmeAdmin"


def signed_in_as(client):
    user_id = client.session.get(SESSION_KEY)
    return User.objects.get(pk=user_id) if user_id else None


def failures(reason=None):
    events = AuditEvent.objects.filter(action="login.sso_failed")
    return events.filter(detail=reason) if reason else events


def test_a_person_signs_in_with_their_work_email_and_is_created_in_their_tenant(
    client, world, acme_sso
):
    response = sign_in(client, "dave@acme.example", "dave-sub")

    assert response.status_code == 302 and response["Location"] == "/"
    dave = signed_in_as(client)
    assert dave.username == "dave@acme.example"
    assert (dave.email, dave.first_name, dave.last_name) == ("dave@acme.example", "Dave", "Ops")
    assert not dave.has_usable_password()
    assert dave.memberships.get().tenant == world.tenant_a
    assert dave.memberships.get().role == Membership.Role.MEMBER
    assert ExternalIdentity.rows.get(user=dave).subject == "dave-sub"
    event = AuditEvent.objects.get(action="login.sso")
    assert (event.actor, event.tenant) == (dave, world.tenant_a)
    assert client.get("/").status_code == 200


def test_the_request_to_the_provider_uses_pkce_state_and_nonce(client, acme_sso):
    query = parse_qs(urlsplit(start(client, "Dave@ACME.example")).query)

    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["acme-portal"]
    assert query["redirect_uri"] == ["http://testserver/login/oidc/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert set(query["scope"][0].split()) == {"openid", "email", "profile", "groups"}
    # Neither the verifier nor the client secret travels through the browser.
    assert "code_verifier" not in query and "acme-client-secret" not in str(query)


def test_a_second_sign_in_finds_the_same_person_by_subject(client, acme_sso):
    sign_in(client, "dave@acme.example", "dave-sub")
    first = signed_in_as(client)
    client.post("/logout/")
    change_person(acme_sso.issuer, "dave-sub", email="dave.ops@acme.example")

    sign_in(client, "dave.ops@acme.example", "dave-sub")

    assert signed_in_as(client) == first
    first.refresh_from_db()
    assert first.email == "dave.ops@acme.example"
    assert User.objects.filter(identities__isnull=False).count() == 1


def test_an_existing_local_account_with_the_same_email_is_not_taken_over(client, world, acme_sso):
    local = UserFactory(username="dave@acme.example", email="dave@acme.example")
    Membership.objects.create(user=local, tenant=world.tenant_a)

    sign_in(client, "dave@acme.example", "dave-sub")

    dave = signed_in_as(client)
    assert dave != local
    assert dave.username == "dave-2@acme.example"
    assert not local.identities.exists()


def test_a_tenant_that_creates_nobody_refuses_people_it_has_not_linked(client, world, idp):
    configure(world.tenant_a, idp, create_people=False)

    response = sign_in(client, "dave@acme.example", "dave-sub")

    assert response.status_code == 403
    assert b"Could not sign you in" in response.content
    assert signed_in_as(client) is None
    assert failures("no account linked to this person, and creating people is off").exists()
    # Linked beforehand (this issuer's subject), the same person is let in.
    ExternalIdentity.objects.create(
        tenant=world.tenant_a, user=world.bob, issuer=idp, subject="dave-sub"
    )
    assert sign_in(client, "dave@acme.example", "dave-sub").status_code == 302
    assert signed_in_as(client) == world.bob


def test_an_unknown_domain_gets_the_same_neutral_page(client, acme_sso):
    unknown = client.post("/login/", {"email": "someone@unknown.example"})

    assert unknown.status_code == 403
    assert b"Could not sign you in" in unknown.content
    event = failures("unknown domain or tenant").get()
    assert event.actor_username == "someone@unknown.example" and event.tenant is None


def test_continuing_without_an_address_asks_for_one(client, world):
    response = client.post("/login/?next=/tokens/", {"email": "  "}, follow=True)

    assert response.redirect_chain == [("/login/?next=/tokens/", 302)]
    assert b"Enter your work e-mail address" in response.content
    # Nothing was tried: no failed sign-in to record or to count against anyone.
    assert not AuditEvent.objects.filter(action__startswith="login.").exists()


def test_the_tenant_slug_also_finds_the_provider(client, acme_sso):
    assert "acme-portal" in start(client, "acme")


def test_a_domain_no_operator_approved_creates_nobody(client, world, acme_sso):
    # A tenant admin named the domain; until an operator approves it, it is only a claim.
    SignInDomain.rows.filter(provider=acme_sso).update(approved=False)

    # Typing the tenant's slug still reaches its provider, but not an account.
    callback = at_provider(start(client, "acme"), "dave-sub", "dave-at-idp")
    response = client.get(callback)

    assert response.status_code == 403
    assert b"Could not sign you in" in response.content
    assert signed_in_as(client) is None
    event = failures("e-mail missing, unverified or outside the tenant's approved domains").get()
    assert event.tenant == world.tenant_a
    assert not User.objects.filter(email="dave@acme.example").exists()
    assert not ExternalIdentity.rows.exists()


def test_a_replayed_callback_is_refused(client, acme_sso):
    callback = at_provider(start(client, "dave@acme.example"), "dave-sub", "dave-at-idp")
    assert client.get(callback).status_code == 302

    replay = client.get(callback)

    assert replay.status_code == 403
    assert failures("replayed callback").exists()


def test_a_callback_with_a_state_this_browser_never_started_is_refused(client, acme_sso):
    callback = at_provider(start(client, "dave@acme.example"), "dave-sub", "dave-at-idp")
    other_browser = client.__class__()

    assert other_browser.get(callback).status_code == 403
    assert failures("state mismatch").exists()
    assert signed_in_as(other_browser) is None


def test_an_error_from_the_provider_is_refused_and_recorded(client, world, acme_sso):
    state = parse_qs(urlsplit(start(client, "dave@acme.example")).query)["state"][0]

    response = client.get("/login/oidc/callback/", {"state": state, "error": "access_denied"})

    assert response.status_code == 403
    event = failures("provider refused (access_denied)").get()
    assert event.tenant == world.tenant_a


def test_teams_managed_by_the_provider_follow_the_groups_claim(client, world, acme_sso):
    admins = Team.objects.create(tenant=world.tenant_a, name="Admins", provider_group="aws-admins")
    readers = Team.objects.create(
        tenant=world.tenant_a, name="Readers", provider_group="aws-readers"
    )
    by_hand = Team.objects.create(tenant=world.tenant_a, name="On call")
    grant = services.grant_role(
        actor=world.alice, tenant=world.tenant_a, team=admins, role_arn=ROLE, label="Acme admin"
    )

    sign_in(client, "dave@acme.example", "dave-sub")
    dave = signed_in_as(client)
    by_hand.members.add(dave)

    assert set(dave.teams.all()) == {admins, by_hand}
    assert list(RoleMapping.objects.granted_to(dave)) == [grant]
    synced = AuditEvent.objects.filter(action="team.synced")
    assert [e.detail for e in synced] == ["dave@acme.example joined Admins (group aws-admins)"]

    client.post("/logout/")
    change_person(acme_sso.issuer, "dave-sub", groups=["aws-readers"])
    sign_in(client, "dave@acme.example", "dave-sub")

    assert set(dave.teams.all()) == {readers, by_hand}
    assert not RoleMapping.objects.granted_to(dave).exists()
    assert {e.detail for e in synced.all()} == {
        "dave@acme.example joined Admins (group aws-admins)",
        "dave@acme.example left Admins (not in group aws-admins)",
        "dave@acme.example joined Readers (group aws-readers)",
    }
    assert set(synced.values_list("tenant", flat=True)) == {world.tenant_a.pk}


def test_groups_left_out_of_the_token_leave_managed_teams_as_they_were(client, world, acme_sso):
    admins = Team.objects.create(tenant=world.tenant_a, name="Admins", provider_group="aws-admins")
    sign_in(client, "dave@acme.example", "dave-sub")
    dave = signed_in_as(client)
    assert list(dave.teams.all()) == [admins]
    client.post("/logout/")

    # In too many groups for a token (Entra ID's overage): no groups claim, and the token
    # says they were left out.
    change_person(acme_sso.issuer, "dave-sub", groups=None, hasgroups=True)
    assert sign_in(client, "dave@acme.example", "dave-sub").status_code == 302

    assert list(dave.teams.all()) == [admins]
    assert AuditEvent.objects.filter(
        action="login.sso",
        detail__endswith="no groups claim: provider-managed teams left as they were",
    ).exists()
    client.post("/logout/")

    # No groups claim and no word of an overage: no groups, so the team is left.
    change_person(acme_sso.issuer, "dave-sub", groups=None, hasgroups=None)
    sign_in(client, "dave@acme.example", "dave-sub")
    assert not dave.teams.exists()
    client.post("/logout/")

    # Back in the group, then in no groups at all (an empty claim): left again.
    change_person(acme_sso.issuer, "dave-sub", groups=["aws-admins"])
    sign_in(client, "dave@acme.example", "dave-sub")
    assert list(dave.teams.all()) == [admins]
    client.post("/logout/")
    change_person(acme_sso.issuer, "dave-sub", groups=[])
    sign_in(client, "dave@acme.example", "dave-sub")
    assert not dave.teams.exists()


def test_the_providers_second_factor_counts_only_when_the_tenant_trusts_it(
    client, world, idp, settings
):
    world.tenant_a.require_mfa = True
    world.tenant_a.save()
    provider = configure(world.tenant_a, idp, trust_provider_mfa=True)

    # Erin's provider asked for a code (amr: otp): no portal code is asked for.
    sign_in(client, "erin@acme.example", "erin-sub")
    assert client.get("/").status_code == 200
    assert "second factor counted" in AuditEvent.objects.get(action="login.sso").detail
    client.post("/logout/")

    # Frank signed in with a password only: the portal asks him to set up its own factor.
    sign_in(client, "frank@acme.example", "frank-sub")
    assert client.get("/")["Location"].startswith("/account/two-factor/")
    client.post("/logout/")

    # Not trusted: even Erin sets up the portal's own.
    provider.trust_provider_mfa = False
    provider.save()
    sign_in(client, "erin@acme.example", "erin-sub")
    assert client.get("/")["Location"].startswith("/account/two-factor/")


def test_people_of_a_provider_without_passwords_cannot_use_one(client, world, acme_sso):
    ExternalIdentity.objects.create(
        tenant=world.tenant_a, user=world.bob, issuer=acme_sso.issuer, subject="dave-sub"
    )

    refused = client.post("/login/", {"username": "bob", "password": PASSWORD})

    assert refused.status_code == 200
    assert b"That username and password do not match" in refused.content
    assert signed_in_as(client) is None
    event = AuditEvent.objects.filter(action="login.failed").get()
    assert event.detail == "password sign-in is off for people of this identity provider"

    acme_sso.allow_passwords = True
    acme_sso.save()
    assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302


def test_signing_in_again_at_the_provider_satisfies_reauthentication(client, acme_sso, settings):
    sign_in(client, "dave@acme.example", "dave-sub")
    session = client.session
    session[AUTHENTICATED_AT] = time.time() - settings.REAUTH_SECONDS - 60
    session.save()

    page = client.get("/login/confirm/", {"next": "/tokens/"})
    assert b"Sign in again with your company account" in page.content
    assert b'name="password"' not in page.content
    going = onward(client.post("/login/confirm/", {"action": "provider", "next": "/tokens/"}))
    query = parse_qs(urlsplit(going).query)
    assert (query["prompt"], query["max_age"]) == (["login"], ["0"])

    back = client.get(at_provider(going, "dave-sub", "dave-at-idp"))

    assert back["Location"] == "/tokens/"
    assert time.time() - client.session[AUTHENTICATED_AT] < 30
    assert "signed in again" in AuditEvent.objects.filter(action="login.sso").first().detail


def test_signing_in_again_as_someone_else_is_refused(client, acme_sso, settings):
    sign_in(client, "dave@acme.example", "dave-sub")
    dave = signed_in_as(client)
    going = onward(client.post("/login/confirm/", {"action": "provider", "next": "/"}))

    back = client.get(at_provider(going, "frank-sub", "frank-at-idp"))

    assert back.status_code == 403
    assert failures("signed in again as someone else").exists()
    assert signed_in_as(client) == dave
    # Refused before anything was done for Frank: no account was made for him.
    assert not User.objects.filter(email="frank@acme.example").exists()


def test_someone_whose_membership_was_removed_cannot_sign_in_again(client, world, acme_sso):
    sign_in(client, "dave@acme.example", "dave-sub")
    dave = signed_in_as(client)
    client.post("/logout/")
    dave.memberships.get().delete()

    assert sign_in(client, "dave@acme.example", "dave-sub").status_code == 403
    assert failures("no longer a member of the tenant").exists()


@pytest.mark.parametrize(
    "taken_away",
    ["membership", "identity provider link", "identity provider"],
)
def test_a_session_through_the_provider_ends_once_what_let_it_in_is_gone(
    client, world, acme_sso, taken_away
):
    sign_in(client, "dave@acme.example", "dave-sub")
    dave = signed_in_as(client)
    assert client.get("/").status_code == 200

    if taken_away == "membership":
        dave.memberships.get(tenant=world.tenant_a).delete()
    elif taken_away == "identity provider link":
        ExternalIdentity.rows.filter(user=dave).delete()
    else:
        acme_sso.delete()

    assert client.get("/")["Location"].startswith("/login/")


def test_signing_out_at_the_provider_too_ends_its_session_and_comes_back(client, acme_sso):
    browser = requests.Session()
    going = start(client, "dave@acme.example")
    assert (
        client.get(at_provider(going, "dave-sub", "dave-at-idp", browser=browser)).status_code
        == 302
    )

    page = client.post("/logout/")

    assert page.status_code == 200 and signed_in_as(client) is None
    link = re.search(r'id="provider-sign-out" href="([^"]+)"', page.content.decode())
    query = parse_qs(urlsplit(html.unescape(link.group(1))).query)
    assert query == {
        "client_id": ["acme-portal"],
        "post_logout_redirect_uri": ["http://testserver/login/"],
    }
    # The provider asks the person to confirm (oidc-provider's form), then sends them back.
    asked = browser.get(html.unescape(link.group(1)), timeout=10)
    assert asked.status_code == 200, asked.text[:500]
    form = re.search(r'<form id="op.logoutForm" method="post" action="([^"]+)">', asked.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', asked.text).group(1)
    confirmed = browser.post(
        urljoin(asked.url, form.group(1)),
        data={"xsrf": xsrf, "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert confirmed.status_code in (302, 303)
    assert confirmed.headers["Location"] == "http://testserver/login/"
    assert client.get("/login/").status_code == 200
    # Signed out there too: the provider asks for the password again.
    again = browser.get(start(client, "dave@acme.example"), timeout=10)
    assert again.status_code == 200 and 'name="password"' in again.text


def refused_at_provider(client, address):
    """A sign-in this browser started, which the provider sends back refused."""
    state = parse_qs(urlsplit(start(client, address)).query)["state"][0]
    return client.get("/login/oidc/callback/", {"state": state, "error": "access_denied"})


def test_failed_sign_ins_through_the_provider_lock_out_like_passwords(client, acme_sso, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    refused = [refused_at_provider(client, "dave@acme.example").status_code for _ in range(3)]
    # The third failure reaches the limit: its answer is already the lockout page.
    assert refused == [403, 403, 429]
    assert failures("provider refused (access_denied)").count() == 3

    locked = client.post("/login/", {"email": "dave@acme.example"})

    assert locked.status_code == 429
    assert b"Too many sign-in attempts" in locked.content


@pytest.fixture
def one_minute():
    """The rate limits count per clock minute: start a test that counts well inside one."""
    if time.time() % 60 > 50:
        time.sleep(60 - time.time() % 60)


RATE_LIMITED = "rate limited (too many sign-ins from this address)"


def test_starting_sign_ins_is_rate_limited_per_address(client, acme_sso, settings, one_minute):
    settings.SSO_ATTEMPTS_PER_MINUTE = 2
    start(client, "dave@acme.example")
    start(client, "dave@acme.example")

    third = client.post("/login/", {"email": "dave@acme.example"})

    assert third.status_code == 403
    assert b"Could not sign you in" in third.content
    assert failures(RATE_LIMITED).get().actor_username == "dave@acme.example"


def test_one_sign_in_costs_one_attempt_of_the_address_budget(
    client, acme_sso, settings, one_minute
):
    settings.SSO_ATTEMPTS_PER_MINUTE = 2
    another_desk = client.__class__()

    dave = sign_in(client, "dave@acme.example", "dave-sub")
    frank = sign_in(another_desk, "frank@acme.example", "frank-sub")

    assert (dave.status_code, frank.status_code) == (302, 302)
    assert not failures().exists()


def test_coming_back_from_the_provider_is_rate_limited_per_address(
    client, acme_sso, settings, one_minute
):
    settings.SSO_ATTEMPTS_PER_MINUTE = 3
    desks = [client.__class__() for _ in range(3)]
    callbacks = [
        at_provider(start(desk, "dave@acme.example"), "dave-sub", "dave-at-idp") for desk in desks
    ]
    settings.SSO_ATTEMPTS_PER_MINUTE = 2
    assert [desk.get(callbacks[n]).status_code for n, desk in enumerate(desks[:2])] == [302, 302]

    refused = desks[2].get(callbacks[2])

    assert refused.status_code == 403
    assert signed_in_as(desks[2]) is None
    assert failures(RATE_LIMITED).count() == 1


def test_rate_limit_refusals_lock_nobody_out(client, world, acme_sso, settings, one_minute):
    settings.SSO_ATTEMPTS_PER_MINUTE = 1
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT = 3
    start(client, "dave@acme.example")
    # A busy office: many people start at once and the limit turns them away.
    for _ in range(5):
        assert client.post("/login/", {"email": "dave@acme.example"}).status_code == 403
    assert failures(RATE_LIMITED).count() == 5

    # Neither the office's address nor Dave is locked out: passwords still sign in.
    assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    settings.SSO_ATTEMPTS_PER_MINUTE = 20
    assert start(client, "dave@acme.example")


def test_the_provider_settings_and_secrets_never_reach_the_trail_or_pages(
    client, world, acme_sso, caplog
):
    caplog.set_level(logging.DEBUG)
    sign_in(client, "dave@acme.example", "dave-sub")
    client.post("/logout/")
    client.force_login(world.alice)
    pages = [
        client.get("/admin/accounts/identityprovider/"),
        client.get(f"/admin/accounts/identityprovider/{acme_sso.pk}/change/"),
    ]

    assert [page.status_code for page in pages] == [200, 200]
    assert acme_sso.issuer in pages[0].content.decode()
    trail = " ".join(AuditEvent.objects.values_list("detail", flat=True))
    seen = [trail, caplog.text, *(page.content.decode() for page in pages)]
    assert all("acme-client-secret" not in text for text in seen)
    assert all(acme_sso.sealed_client_secret not in text for text in seen)
    assert "acme-client-secret" not in acme_sso.sealed_client_secret
    assert acme_sso.client_secret() == "acme-client-secret"
    assert IDP_PEOPLE["dave-sub"]["password"] not in trail + caplog.text


def test_the_providers_factor_does_not_count_for_someone_in_another_tenant(
    client, world, idp, settings
):
    world.tenant_b.require_mfa = True
    world.tenant_b.save()
    configure(world.tenant_a, idp, trust_provider_mfa=True)
    sign_in(client, "erin@acme.example", "erin-sub")
    erin = signed_in_as(client)
    client.post("/logout/")
    # Erin also belongs to Globex, which requires a second factor and trusts no provider.
    Membership.objects.create(user=erin, tenant=world.tenant_b)

    sign_in(client, "erin@acme.example", "erin-sub")

    assert client.get("/")["Location"].startswith("/account/two-factor/")
    assert (
        "second factor counted" not in AuditEvent.objects.filter(action="login.sso").first().detail
    )


def test_forged_callbacks_lock_nobody_out_and_flood_no_trail(
    client, world, acme_sso, settings, one_minute
):
    """Any web page can make a browser behind the office's address send callbacks with a
    state it never started: they are no guess at anything."""
    office = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(50):
        forged = client.get(
            "/login/oidc/callback/", {"state": f"forged-{n}", "code": "x"}, **office
        )
        assert forged.status_code == 403

    colleague = client.__class__()
    signed_in = colleague.post("/login/", {"username": "bob", "password": PASSWORD}, **office)
    assert signed_in.status_code == 302 and signed_in_as(colleague) == world.bob
    # The browser that sent them, and the company sign-in from that address, work as well.
    there = onward(client.post("/login/", {"email": "dave@acme.example"}, **office))
    callback = at_provider(there, "dave-sub", "dave-at-idp")
    assert client.get(callback, **office).status_code == 302
    # Recorded, a few times a minute: the trail says it happened without filling up.
    assert failures("state mismatch").count() == sso.UNSOLICITED_RECORDS_PER_MINUTE


def test_a_password_session_ends_when_the_provider_stops_allowing_passwords(
    client, world, acme_sso
):
    acme_sso.allow_passwords = True
    acme_sso.save()
    ExternalIdentity.objects.create(
        tenant=world.tenant_a, user=world.bob, issuer=acme_sso.issuer, subject="dave-sub"
    )
    client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert client.get("/").status_code == 200

    acme_sso.allow_passwords = False
    acme_sso.save()

    assert client.get("/")["Location"].startswith("/login/")
