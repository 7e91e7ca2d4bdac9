"""One person, one name in CloudTrail: the RoleSessionName and SourceIdentity."""

import pytest

from accounts.models import User, session_name_base
from audit.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory
from tests.federation.helpers import open_console

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("username", "session_name"),
    [
        ("bob", "bob"),
        ("b", "b-"),
        ("ann marie", "ann-marie"),
        ("zoë", "zoe"),
        ("maryéjane", "maryejane"),
        ("x" * 80, "x" * 64),
        ("a.b@c+d=e,f_g-h", "a.b@c+d=e,f_g-h"),
    ],
)
def test_it_makes_a_readable_ascii_name(username, session_name):
    assert session_name_base(username) == session_name


def test_two_people_never_share_a_name():
    names = [
        UserFactory(username=username).session_name
        for username in ["maryéjane", "mary-jane", "maryejane", "MARYEJANE2"]
    ]
    assert names == ["maryejane", "mary-jane", "maryejane-2", "MARYEJANE2"]
    long_a, long_b = "p" * 64 + "a", "p" * 64 + "b"
    assert UserFactory(username=long_a).session_name == "p" * 64
    assert UserFactory(username=long_b).session_name == "p" * 62 + "-2"


def test_the_name_is_kept_when_the_username_changes():
    person = UserFactory(username="jo")
    person.username = "joanna"
    person.save()
    person.refresh_from_db()
    assert person.session_name == "jo"
    assert UserFactory(username="jo").session_name == "jo-2"


def test_issuance_names_the_person_by_their_session_name(client, world, bob_grant, sandbox):
    twin = UserFactory(username="böb")  # "bob" once transliterated: another person
    MembershipFactory(user=twin, tenant=world.tenant_a)
    bob_grant.pk = None
    bob_grant.user = twin
    bob_grant.save()
    client.force_login(twin)
    assert open_console(client, bob_grant).status_code == 200
    issued = AuditEvent.objects.get(action="console.issued")
    assert issued.role_session_name == issued.source_identity == "bob-2"
    assert issued.assumed_role_arn.endswith("/AcmeAdmin/bob-2")


def test_the_name_shows_on_the_persons_pages(client, world):
    client.force_login(world.bob)
    assert b'<span class="mono" id="session-name">bob</span>' in client.get("/").content
    client.force_login(world.alice)
    page = client.get(f"/admin/accounts/user/{world.bob.pk}/change/").content.decode()
    assert "AWS session name" in page and ">bob<" in page
    assert User.objects.get(pk=world.bob.pk).session_name == "bob"
