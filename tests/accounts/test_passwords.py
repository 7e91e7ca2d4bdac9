"""Local passwords: Argon2id with OWASP's parameters, older hashes upgraded at sign-in."""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password

import portal.settings as production
from accounts.models import User
from tests.conftest import PASSWORD
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ARGON2ID = "argon2$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture
def real_hashers(settings):
    # The suite hashes with MD5 for speed; these tests use what a deployment uses.
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS


def sign_in(client, username):
    return client.post("/login/", {"username": username, "password": PASSWORD})


def test_new_passwords_are_stored_with_argon2id(real_hashers):
    assert make_password(PASSWORD).startswith(ARGON2ID)


@pytest.mark.parametrize(
    "old_hash",
    [
        pytest.param(lambda: make_password(PASSWORD, hasher="pbkdf2_sha256"), id="pbkdf2"),
        # Django's own Argon2 parameters (100 MiB, eight lanes): rehashed to ours.
        pytest.param(lambda: Argon2PasswordHasher().encode(PASSWORD, "saltsaltsalt"), id="argon2"),
    ],
)
def test_an_older_hash_is_upgraded_at_the_next_sign_in(client, world, real_hashers, old_hash):
    person = User.objects.create(username="olga", password=old_hash())
    MembershipFactory(user=person, tenant=world.tenant_a)
    assert not person.password.startswith(ARGON2ID)
    assert sign_in(client, "olga").status_code == 302
    person.refresh_from_db()
    assert person.password.startswith(ARGON2ID)
    client.logout()
    assert sign_in(client, "olga").status_code == 302  # and the new hash works
