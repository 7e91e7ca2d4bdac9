import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db


def run(*args, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    options = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, **options)
    return out.getvalue(), err.getvalue()


def test_it_adds_a_tenant_and_prints_its_external_id():
    out, _ = run("tenant_add", "example-corp", "--name", "Example Corp")
    tenant = Tenant.objects.get(slug="example-corp")
    assert tenant.name == "Example Corp"
    assert tenant.max_session_seconds == 43200
    assert out.strip() == tenant.external_id
    assert tenant.external_id.startswith("portcullis-")


def test_it_gives_every_tenant_its_own_external_id():
    first, _ = run("tenant_add", "one", "--name", "One")
    second, _ = run("tenant_add", "two", "--name", "Two")
    assert first != second


def test_it_refuses_a_duplicate_tenant_slug():
    run("tenant_add", "acme", "--name", "Acme")
    with pytest.raises(CommandError, match="slug: Tenant with this Slug already exists"):
        run("tenant_add", "acme", "--name", "Another Acme")
    assert Tenant.objects.filter(slug="acme").get().name == "Acme"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not a slug", "--name", "X"], "slug: Enter a valid"),
        (["ok", "--name", ""], "name: This field cannot be blank"),
        (["ok", "--name", "X", "--max-session", "60"], "max_session_seconds"),
    ],
)
def test_it_refuses_a_bad_tenant_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("tenant_add", *args)
    assert not Tenant.objects.exists()


def test_it_adds_a_member_with_a_generated_password(world):
    out, err = run("user_add", "dave", "--tenant", "acme", "--email", "dave@example.com")
    password = out.strip()
    assert len(password) >= 20
    dave = User.objects.get(username="dave")
    assert dave.check_password(password)
    assert not dave.is_staff
    assert dave.memberships.get().tenant == world.tenant_a
    assert dave.memberships.get().role == Membership.Role.MEMBER
    assert "shown only this once" in err


def test_it_adds_a_tenant_admin(world):
    run("user_add", "erin", "--tenant", "globex", "--admin")
    erin = User.objects.get(username="erin")
    assert erin.is_staff
    assert not erin.is_superuser
    assert erin.memberships.get().role == Membership.Role.ADMIN
    assert erin.memberships.get().tenant == world.tenant_b


def test_it_reads_the_password_from_stdin(world, client):
    out, _ = run(
        "user_add", "frank", "--tenant", "acme", "--password-stdin", stdin="Tr0ub4dor&3x!\n"
    )
    assert out == ""
    response = client.post("/login/", {"username": "frank", "password": "Tr0ub4dor&3x!"})
    assert response.status_code == 302


def test_it_refuses_an_empty_password_and_writes_nothing(world):
    with pytest.raises(CommandError, match="empty"):
        run("user_add", "gina", "--tenant", "acme", "--password-stdin", stdin="\n")
    assert not User.objects.filter(username="gina").exists()


def test_it_refuses_a_weak_password_and_writes_nothing(world):
    with pytest.raises(CommandError, match="password refused: This password is too common"):
        run("user_add", "gina", "--tenant", "acme", "--password-stdin", stdin="password\n")
    assert not User.objects.filter(username="gina").exists()


def test_it_refuses_an_unknown_tenant_and_writes_nothing(world):
    with pytest.raises(CommandError, match="no tenant with slug 'initech'"):
        run("user_add", "hank", "--tenant", "initech")
    assert not User.objects.filter(username="hank").exists()


@pytest.mark.parametrize("username", ["bob", "BOB"])
def test_it_refuses_a_duplicate_user_and_writes_nothing(world, username):
    before = Membership.objects.count()
    with pytest.raises(CommandError, match="A user with that username already exists"):
        run("user_add", username, "--tenant", "globex")
    assert Membership.objects.count() == before
    assert User.objects.filter(username__iexact="bob").count() == 1


def test_it_refuses_a_bad_email_and_writes_nothing(world):
    with pytest.raises(CommandError, match="email: Enter a valid email address"):
        run("user_add", "ivan", "--tenant", "acme", "--email", "not-an-address")
    assert not User.objects.filter(username="ivan").exists()
