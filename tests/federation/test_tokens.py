"""Personal API tokens are lasting credentials: a recent sign-in to make one, an expiry,
and death with the password, the account or the last tenant."""

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Membership
from audit.models import AuditEvent
from core.sessions import AUTHENTICATED_AT
from federation.models import ApiToken
from tests.conftest import PASSWORD, Client
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def create(client, **data):
    response = client.post("/tokens/", {"name": "laptop", **data})
    match = re.search(rb'id="new-token" class="mono url" value="([^"]+)"', response.content)
    return response, match.group(1).decode() if match else None


def works(plain):
    return Client().get("/api/v1/roles", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 200


def test_a_stale_sign_in_must_confirm_before_making_a_token(client, world, settings):
    client.force_login(world.bob)
    session = client.session
    session[AUTHENTICATED_AT] = time.time() - settings.REAUTH_SECONDS - 60
    session.save()
    response, plain = create(client)
    assert response.status_code == 302
    assert response["Location"] == "/login/confirm/?next=/tokens/"
    assert plain is None and not ApiToken.objects.exists()
    confirmed = client.post("/login/confirm/", {"password": PASSWORD, "next": "/tokens/"})
    assert confirmed["Location"] == "/tokens/"
    _, plain = create(client)
    assert plain and ApiToken.objects.count() == 1


def test_a_token_works_thirty_days_unless_the_person_chooses(client, world):
    client.force_login(world.bob)
    start = timezone.now()
    response, plain = create(client)
    token = ApiToken.objects.get()
    assert timedelta(days=30) - (token.expires_at - start) < timedelta(minutes=1)
    assert b"It works until" in response.content
    create(client, days="7")
    short = ApiToken.objects.order_by("-created_at").first()
    assert timedelta(days=7) - (short.expires_at - start) < timedelta(minutes=1)
    assert works(plain)
    with time_machine.travel(start + timedelta(days=30, minutes=1)):
        assert not works(plain)
        client.force_login(world.bob)
        page = client.get("/tokens/").content.decode()
    assert "expired" in page


@pytest.mark.parametrize("days", ["0", "91", "-3", "many"])
def test_it_refuses_a_lifetime_outside_one_to_ninety_days(client, world, days):
    client.force_login(world.bob)
    response, plain = create(client, days=days)
    assert response.status_code == 400
    assert plain is None and not ApiToken.objects.exists()
    assert b"token-days-error" in response.content


def test_the_operator_caps_the_lifetime(client, world, settings):
    settings.API_TOKEN_MAX_DAYS = 14
    client.force_login(world.bob)
    assert create(client, days="30")[0].status_code == 400
    assert create(client, days="14")[1]


def test_the_tokens_page_shows_expiry_and_last_use(client, world):
    client.force_login(world.bob)
    _, plain = create(client)
    page = client.get("/tokens/").content.decode()
    assert '<th scope="col">Expires</th>' in page and "never" in page
    assert works(plain)
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    page = client.get("/tokens/").content.decode()
    assert token.last_used_at.strftime("%Y-%m-%d %H:%M") in page


def test_a_password_change_kills_the_persons_tokens(client, world):
    client.force_login(world.bob)
    _, plain = create(client)
    response = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new long pass phrase",
            "new_password2": "a new long pass phrase",
        },
    )
    assert response.status_code == 302
    assert not works(plain)
    revoked = AuditEvent.objects.get(action="token.revoked")
    assert revoked.tenant == world.tenant_a and "password changed" in revoked.detail
    assert AuditEvent.objects.filter(
        action="user.password_changed", tenant=world.tenant_a, actor=world.bob
    ).exists()


def test_deactivation_kills_tokens_and_reactivation_does_not_bring_them_back(client, world):
    client.force_login(world.bob)
    _, plain = create(client)
    world.bob.is_active = False
    world.bob.save()
    assert not works(plain)
    world.bob.is_active = True
    world.bob.save()
    assert not works(plain)
    actions = list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))
    assert actions[-3:] == ["user.deactivated", "token.revoked", "user.reactivated"]


def test_leaving_the_last_tenant_kills_the_tokens(client, world):
    MembershipFactory(user=world.bob, tenant=world.tenant_b)
    client.force_login(world.bob)
    _, plain = create(client)
    Membership.objects.get(user=world.bob, tenant=world.tenant_a).delete()
    assert works(plain)  # still in Globex
    Membership.objects.get(user=world.bob, tenant=world.tenant_b).delete()
    assert not works(plain)
    revoked = AuditEvent.objects.get(action="token.revoked")
    assert revoked.tenant == world.tenant_b and "left the last tenant" in revoked.detail


def test_a_tenant_admin_sees_only_the_tokens_of_people_solely_in_their_tenant(client, world):
    shared = UserFactory(username="shared")
    MembershipFactory(user=shared, tenant=world.tenant_a)
    MembershipFactory(user=shared, tenant=world.tenant_b)
    own, _ = ApiToken.issue(user=world.bob, name="bob-laptop", days=30)
    theirs, _ = ApiToken.issue(user=shared, name="shared-laptop", days=30)
    client.force_login(world.alice)
    listing = client.get("/admin/federation/apitoken/").content.decode()
    assert "bob-laptop" in listing and "shared-laptop" not in listing
    assert client.get(f"/admin/federation/apitoken/{theirs.pk}/change/").status_code == 404
    response = client.post(
        "/admin/federation/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [own.pk, theirs.pk]},
    )
    assert response.status_code == 302
    theirs.refresh_from_db()
    own.refresh_from_db()
    assert theirs.revoked_at is None and own.revoked_at is not None


def test_reloading_the_page_that_shows_a_new_token_makes_no_second_token(client, world):
    client.force_login(world.bob)
    page = client.get("/tokens/").content.decode()
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)

    first, plain = create(client, once=once)
    reload, again = create(client, once=once)  # the browser posts the same form again

    assert first.status_code == 200 and plain
    assert reload.status_code == 409 and again is None
    assert "no-store" in reload["Cache-Control"]
    assert b"This token was already shown" in reload.content
    assert b'href="/tokens/">Create a new token</a>' in reload.content
    assert ApiToken.objects.filter(user=world.bob).count() == 1
    assert AuditEvent.objects.filter(action="token.created").count() == 1
    # The page after the new token has a fresh form: the next token is one click away.
    fresh = re.search(r'name="once" value="([^"]+)"', first.content.decode()).group(1)
    assert fresh != once and create(client, once=fresh)[1]


def test_a_token_form_with_a_mistake_can_be_sent_again_once_corrected(client, world):
    client.force_login(world.bob)
    once = re.search(r'name="once" value="([^"]+)"', client.get("/tokens/").content.decode())

    refused, _ = create(client, once=once.group(1), days="0")
    _, plain = create(client, once=once.group(1), days="7")

    assert refused.status_code == 400 and plain
