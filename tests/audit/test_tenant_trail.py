"""Every refusal and every change to a person's credentials lands in the trail of the
tenant it concerns, where that tenant's admins see it on /audit/ and in the CSV."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from federation import services
from tests.accounts.test_second_factor import code_for, enrol, sign_in
from tests.conftest import Client
from tests.factories import MembershipFactory, UserFactory
from tests.federation.helpers import open_console

pytestmark = pytest.mark.django_db


def seen_by_alice(action):
    """The rows of `action` on Acme's audit page and in its CSV export, as alice sees them."""
    alice = Client()
    alice.force_login(User.objects.get(username="alice"))
    page = alice.get("/audit/", {"action": action}).content.decode()
    csv = b"".join(alice.get("/audit/export.csv", {"action": action}).streaming_content)
    return page.count(f'<span class="badge">{action}<'), csv.decode().count(f",{action},")


def test_token_creation_and_revocation_are_in_the_tenants_trail(client, world):
    client.force_login(world.bob)
    client.post("/tokens/", {"name": "laptop"})
    token = world.bob.api_tokens.get()
    client.post(f"/tokens/{token.pk}/revoke/")
    for action in ["token.created", "token.revoked"]:
        assert AuditEvent.objects.get(action=action).tenant == world.tenant_a
        assert seen_by_alice(action) == (1, 1)


def test_second_factor_changes_are_in_the_tenants_trail(client, world):
    sign_in(client, "bob")
    device, _ = enrol(client, world.bob)
    later = timezone.now() + timedelta(seconds=60)
    with time_machine.travel(later):
        client.post("/account/two-factor/", {"action": "remove", "code": code_for(device, later)})
    for action in ["mfa.enrolled", "mfa.removed"]:
        assert AuditEvent.objects.get(action=action).tenant == world.tenant_a
        assert seen_by_alice(action) == (1, 1)


@pytest.mark.parametrize(
    "choices",
    [{"duration": "99999"}, {"destination": "/evil/home"}, {"region": "mars-north-1"}],
)
def test_a_tampered_choice_is_refused_and_recorded_in_the_grants_tenant(
    client, world, bob_grant, sandbox, choices
):
    client.force_login(world.bob)
    response = open_console(client, bob_grant, **choices)
    assert response.status_code == 400
    assert sandbox.calls["sts:AssumeRole"] == 0
    denied = AuditEvent.objects.get(action="console.denied")
    assert denied.tenant == world.tenant_a and denied.error_code == "InvalidChoice"
    assert denied.mapping_id == bob_grant.pk and "refused choice" in denied.detail
    assert seen_by_alice("console.denied") == (1, 1)


def test_a_tampered_choice_over_the_api_is_recorded_too(client, world, bob_grant, sandbox):
    _, plain = services.create_token(user=world.bob, name="laptop", days=1)
    response = client.post(
        f"/api/v1/credentials/{bob_grant.pk}",
        {"duration": "12"},
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 400
    denied = AuditEvent.objects.get(action="cli.denied")
    assert denied.tenant == world.tenant_a and denied.error_code == "InvalidChoice"


def test_an_id_outside_the_persons_tenants_is_recorded_in_their_own(client, world, bob_grant):
    # Carol (Globex) tries Acme's grant: Globex's admins see it, Acme learns nothing new.
    globex_admin = UserFactory(username="gadmin", is_staff=True)
    MembershipFactory(user=globex_admin, tenant=world.tenant_b, role="admin")
    client.force_login(world.carol)
    assert open_console(client, bob_grant).status_code == 404
    denied = AuditEvent.objects.get(action="console.denied")
    assert denied.tenant == world.tenant_b and denied.role_arn == ""
    admin = Client()
    admin.force_login(globex_admin)
    assert '<span class="badge">console.denied<' in admin.get("/audit/").content.decode()
    assert seen_by_alice("console.denied") == (0, 0)


def test_refused_choices_count_against_the_rate_limit_so_they_cannot_flood_the_trail(
    client, world, bob_grant, sandbox, settings
):
    settings.ISSUE_LIMIT_PER_USER = 3
    _, plain = services.create_token(user=world.bob, name="laptop", days=1)
    codes = [
        client.post(
            f"/api/v1/credentials/{bob_grant.pk}",
            {"duration": "12"},
            HTTP_AUTHORIZATION=f"Bearer {plain}",
        ).status_code
        for _ in range(10)
    ]
    assert codes == [400] * 3 + [429] * 7
    denied = AuditEvent.objects.filter(action="cli.denied")
    assert denied.filter(error_code="InvalidChoice").count() == 3
    assert denied.filter(error_code="RateLimited").count() == 1
