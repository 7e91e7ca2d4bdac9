"""Upgrading by `migrate` alone, from a database the previous release filled."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit import chain as audit_chain
from audit.records import record

# The previous release: the last migrations it shipped.
PREVIOUS = [
    ("accounts", "0003_tenant_require_mfa"),
    ("federation", "0005_audit_filter_indexes"),
    ("otp_totp", "0003_add_timestamps"),
]
TRAIL = 500


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def put_the_triggers_back():
    """After a test played the attacker who dropped them."""
    from audit.models import AuditEvent

    columns = [field.column for field in AuditEvent._meta.concrete_fields]
    with connection.schema_editor() as editor:
        audit_chain.drop_triggers(editor)
        audit_chain.install_triggers(editor, columns)


def fill_as_the_previous_release(apps):
    Tenant = apps.get_model("accounts", "Tenant")
    User = apps.get_model("accounts", "User")
    Membership = apps.get_model("accounts", "Membership")
    RoleMapping = apps.get_model("federation", "RoleMapping")
    ApiToken = apps.get_model("federation", "ApiToken")
    AuditEvent = apps.get_model("federation", "AuditEvent")
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")

    tenant = Tenant.objects.create(slug="acme", name="Acme", external_id="portcullis-old")
    people = [
        User.objects.create(username=name, password="!")
        for name in ["bob", "mary jane", "mary-jane", "zoë"]
    ]
    for person in people:
        Membership.objects.create(user=person, tenant=tenant, role="member")
    RoleMapping.objects.create(
        tenant=tenant,
        user=people[0],
        role_arn="arn:aws:iam::123456789012:role/Old",
        label="Old",
        max_session_seconds=3600,
        destination_path="/console/home",
        valid_from=timezone.now() - timedelta(days=30),
    )
    ApiToken.objects.create(user=people[0], name="laptop", key_id="abc123", digest="0" * 64)
    TOTPDevice.objects.create(user=people[0], name="left behind", confirmed=False)

    # A long trail, chained with plain SHA-256 as that release did.
    previous, start = audit_chain.GENESIS_HASH, datetime(2026, 1, 1, tzinfo=UTC)
    for sequence in range(1, TRAIL + 1):
        event = AuditEvent(
            sequence=sequence,
            prev_hash=previous,
            created_at=start + timedelta(minutes=sequence),
            tenant=tenant,
            actor_username="bob",
            action="console.issued",
            role_arn="arn:aws:iam::123456789012:role/Old",
            role_session_name="bob",
            source_identity="bob",
            duration_seconds=3600,
            client_ip="2001:db8::1" if sequence % 2 else "192.0.2.1",
            detail=f"old record {sequence}",
        )
        event.hash = previous = audit_chain.digest(event)
        event.save()


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_keeps_everything_and_the_trail_still_verifies():
    try:
        fill_as_the_previous_release(migrate(PREVIOUS))
        migrate(latest())
    finally:
        migrate(latest())

    from accounts.models import User
    from audit.models import AuditEvent
    from federation.models import ApiToken, RoleMapping

    # People keep the session name AWS has seen; the two who shared one are told apart.
    names = dict(User.objects.values_list("username", "session_name"))
    assert names == {
        "bob": "bob",
        "mary jane": "mary-jane",
        "mary-jane": "mary-jane-2",
        "zoë": "zo-",
    }
    assert RoleMapping.objects.get().label == "Old"
    token = ApiToken.objects.get()
    assert token.revoked_at is None
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    assert not TOTPDevice.objects.exists()

    # The trail now belongs to the audit app, with the same content type (no stale twin).
    from django.contrib.contenttypes.models import ContentType

    assert ContentType.objects.filter(model="auditevent").count() == 1
    assert ContentType.objects.get(model="auditevent").app_label == "audit"

    # The old records are untouched and sealed by one keyed record; new ones are keyed.
    seal = AuditEvent.objects.get(sequence=TRAIL + 1)
    assert seal.action == "audit.keyed" and seal.key_id == audit_chain.current_key_id()
    assert AuditEvent.objects.filter(key_id="").count() == TRAIL
    record("console.issued", detail="after the upgrade")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith(f"audit trail intact: {TRAIL + 2} record(s)")

    # Rewriting an old record breaks the chain at the seal, key or no key for the old ones.
    audit_chain.drop_triggers(connection)
    try:
        event = AuditEvent.objects.get(sequence=10)
        event.actor_username = "someone-else"
        previous = event.prev_hash
        for later in AuditEvent.objects.filter(sequence__gte=10, key_id="").order_by("sequence"):
            if later.sequence == 10:
                later.actor_username = "someone-else"
            later.prev_hash = previous
            later.hash = previous = audit_chain.digest(later)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE federation_auditevent SET actor_username = %s, prev_hash = %s, "
                    "hash = %s WHERE id = %s",
                    [later.actor_username, later.prev_hash, later.hash, later.pk],
                )
        with pytest.raises(Exception, match=f"record #{TRAIL + 1}"):
            call_command("verify_audit", stdout=StringIO())
    finally:
        put_the_triggers_back()


# The release before access on request: the audit app and the keyed chain, no activation.
LAST_RELEASE = [
    ("accounts", "0005_scoped_managers"),
    ("audit", "0002_scoped_managers"),
    ("federation", "0010_api_token_verbose_name"),
    ("otp_totp", "0003_add_timestamps"),
]


def fill_as_the_last_release(apps):
    Tenant = apps.get_model("accounts", "Tenant")
    User = apps.get_model("accounts", "User")
    Membership = apps.get_model("accounts", "Membership")
    Team = apps.get_model("accounts", "Team")
    RoleMapping = apps.get_model("federation", "RoleMapping")
    AuditEvent = apps.get_model("audit", "AuditEvent")

    tenant = Tenant._default_manager.create(slug="acme", name="Acme", external_id="portcullis-last")
    people = [
        User._default_manager.create(username=f"person{n}", session_name=f"person{n}", password="!")
        for n in range(20)
    ]
    team = Team._default_manager.create(tenant=tenant, name="ops")
    for person in people:
        Membership._default_manager.create(user=person, tenant=tenant, role="member")
    team.members.add(*people[:5])
    for n, person in enumerate(people):
        RoleMapping._default_manager.create(
            tenant=tenant,
            user=person,
            role_arn=f"arn:aws:iam::123456789012:role/Role{n % 3}",
            label=f"Role {n % 3}",
            max_session_seconds=3600,
            destination_path="/console/home",
            valid_from=timezone.now() - timedelta(days=30),
        )
    RoleMapping._default_manager.create(
        tenant=tenant,
        team=team,
        role_arn="arn:aws:iam::123456789012:role/Ops",
        label="Ops",
        max_session_seconds=3600,
        destination_path="/console/home",
        valid_from=timezone.now() - timedelta(days=30),
    )
    previous, start = audit_chain.GENESIS_HASH, datetime(2026, 6, 1, tzinfo=UTC)
    for sequence in range(1, TRAIL + 1):
        event = AuditEvent(
            sequence=sequence,
            prev_hash=previous,
            created_at=start + timedelta(minutes=sequence),
            tenant=tenant,
            actor_username=f"person{sequence % 20}",
            action="console.issued" if sequence % 3 else "mapping.granted",
            role_arn=f"arn:aws:iam::123456789012:role/Role{sequence % 3}",
            duration_seconds=3600,
            detail=f"record {sequence}",
            key_id=audit_chain.current_key_id(),
        )
        event.hash = previous = audit_chain.digest(event)
        event.save()


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_from_the_last_release_keeps_every_grant_standing():
    try:
        fill_as_the_last_release(migrate(LAST_RELEASE))
        migrate(latest())
    finally:
        migrate(latest())

    from access.models import AccessRequest
    from federation.models import RoleMapping

    grants = RoleMapping.objects.unscoped("test")
    assert grants.count() == 21
    assert set(grants.values_list("activation", flat=True)) == {"standing"}
    assert not AccessRequest.objects.unscoped("test").exists()
    record("request.created", detail="after the upgrade")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith(f"audit trail intact: {TRAIL + 1} record(s)")


# The release before sign-in through identity providers and passkeys.
BEFORE_SSO = [
    ("accounts", "0005_scoped_managers"),
    ("audit", "0003_access_request_actions"),
    ("federation", "0011_access_on_request"),
    ("access", "0001_initial"),
    ("otp_totp", "0003_add_timestamps"),
    ("sessions", "0001_initial"),
]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_to_identity_providers_keeps_people_teams_sessions_and_the_trail():
    from django.contrib.sessions.backends.db import SessionStore

    try:
        apps = migrate(BEFORE_SSO)
        fill_as_the_last_release(apps)
        person = apps.get_model("accounts", "User")._default_manager.get(username="person3")
        session = SessionStore()
        session.update(
            {
                "_auth_user_id": str(person.pk),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": "",
            }
        )
        session.create()
        migrate(latest())
    finally:
        migrate(latest())

    from accounts.models import Team, User

    assert User.objects.count() == 20
    team = Team.objects.unscoped("test").get(name="ops")
    assert team.provider_group == "" and team.members.count() == 5
    kept = SessionStore(session_key=session.session_key).load()
    assert kept["_auth_user_backend"] == "accounts.backends.PasswordBackend"
    assert kept["_auth_user_id"] == str(person.pk)
    record("login.sso", detail="after the upgrade")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith(f"audit trail intact: {TRAIL + 1} record(s)")


# The release before tenants had a time zone and a way into their other AWS accounts.
BEFORE_TENANT_CLOCKS = [
    ("accounts", "0008_user_time_zone"),
    ("audit", "0004_identity_providers"),
    ("federation", "0013_aws_accounts"),
    ("access", "0001_initial"),
    ("otp_totp", "0003_add_timestamps"),
]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_to_tenant_clocks_keeps_tenants_accounts_and_grants():
    try:
        apps = migrate(BEFORE_TENANT_CLOCKS)
        fill_as_the_last_release(apps)
        Tenant = apps.get_model("accounts", "Tenant")
        tenant = Tenant._default_manager.get(slug="acme")
        Tenant._default_manager.filter(pk=tenant.pk).update(max_session_seconds=5400)
        apps.get_model("federation", "AwsAccount")._default_manager.create(
            tenant=tenant, account_id="123456789012", name="Production"
        )
        apps.get_model("federation", "RoleMapping")._default_manager.filter(label="Ops").update(
            max_session_seconds=2700, max_activation_seconds=5400, escalate_after_seconds=0
        )
        migrate(latest())
    finally:
        migrate(latest())

    from accounts.models import Tenant
    from federation.models import AwsAccount, RoleMapping

    tenant = Tenant.objects.unscoped("test").get(slug="acme")
    assert (tenant.time_zone, tenant.max_session_seconds) == ("UTC", 5400)
    assert tenant.administration_role_name == tenant.management_account_id == ""
    account = AwsAccount.objects.unscoped("test").get()
    assert (account.tenant_id, account.account_id, account.name) == (
        tenant.pk,
        "123456789012",
        "Production",
    )
    grants = RoleMapping.objects.unscoped("test")
    assert grants.count() == 21
    ops = grants.get(label="Ops")
    assert (ops.max_session_seconds, ops.max_activation_seconds, ops.escalate_after_seconds) == (
        2700,
        5400,
        0,
    )
    record("mapping.changed", detail="after the upgrade")
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith(f"audit trail intact: {TRAIL + 1} record(s)")


def fill_a_keyed_trail(apps, count):
    """A keyed trail as the release before the hash covered the actor wrote it, by two
    people, one of whom then leaves (their records' actor cleared, as it was then)."""
    Tenant = apps.get_model("accounts", "Tenant")
    User = apps.get_model("accounts", "User")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    tenant = Tenant._default_manager.create(slug="acme", name="Acme", external_id="portcullis-x")
    stays = User._default_manager.create(username="stays", password="!", session_name="stays")
    leaves = User._default_manager.create(username="leaves", password="!", session_name="leaves")
    previous, start = audit_chain.GENESIS_HASH, datetime(2026, 11, 1, tzinfo=UTC)
    for sequence in range(1, count + 1):
        person = stays if sequence % 2 else leaves
        event = AuditEvent(
            sequence=sequence,
            prev_hash=previous,
            created_at=start + timedelta(minutes=sequence),
            tenant=tenant,
            actor=person,
            actor_username=person.username,
            action="console.issued",
            client_ip="192.0.2.1",
            detail=f"keyed record {sequence}",
            key_id=audit_chain.current_key_id(),
        )
        event.hash = previous = audit_chain.digest(event)
        event.save()
    leaves.delete()
    return stays.pk


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_to_a_hash_that_covers_the_actor_keeps_the_trail_verifying():
    before = [node for node in latest() if node[0] != "audit"]
    before.append(("audit", "0007_audit_tenant_sequence"))
    try:
        stays = fill_a_keyed_trail(migrate(before), 40)
        migrate(latest())
    finally:
        migrate(latest())

    from accounts.models import User
    from audit.models import AuditEvent

    events = AuditEvent.objects.unscoped("test")
    assert events.filter(content_version=1).count() == 40
    assert events.filter(actor_id=None).count() == 20  # the leaver's, cleared back then
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("audit trail intact: 40 record(s)")

    # New records cover their actor, and keep it when the person's account is deleted.
    person = User.objects.get(pk=stays)
    record("console.issued", actor=person, detail="after the upgrade")
    newest = events.get(sequence=41)
    assert (newest.content_version, newest.actor_id) == (2, stays)
    person.delete()
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("audit trail intact: 41 record(s)")
    assert events.get(sequence=41).actor_id == stays

    # Changing who did it now breaks the chain at that record.
    audit_chain.drop_triggers(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE federation_auditevent SET actor_id = NULL WHERE sequence = 41")
        with pytest.raises(Exception, match="record #41"):
            call_command("verify_audit", stdout=StringIO())
    finally:
        put_the_triggers_back()
