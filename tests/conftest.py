"""Shared fixtures: two tenants and the people in them.

Tenant A (Acme): alice is its admin, bob a member. Tenant B (Globex): carol is a member.
Every password is PASSWORD.
"""

import threading
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client as DjangoClient
from django.test import TransactionTestCase
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from prometheus_client.parser import text_string_to_metric_families

from accounts import mfa
from accounts.models import Membership, Tenant, User
from audit import chain as audit_chain
from audit.models import AuditEvent
from federation import aws, services
from sandbox import app as sandbox_module
from tests.factories import MembershipFactory, TenantFactory, UserFactory

PASSWORD = "correct horse battery"


def _flush_past_the_audit_triggers(original):
    """Transactional tests end by emptying every table, which the audit triggers refuse:
    lift them for the flush only, as nothing but a test run may."""

    def _fixture_teardown(self):
        names = self._databases_names(include_mirrors=False)
        for name in names:
            audit_chain.drop_triggers(connections[name])
        try:
            original(self)
        finally:
            columns = [field.column for field in AuditEvent._meta.concrete_fields]
            for name in names:
                with connections[name].schema_editor() as editor:
                    audit_chain.install_triggers(editor, columns)

    return _fixture_teardown


TransactionTestCase._fixture_teardown = _flush_past_the_audit_triggers(
    TransactionTestCase._fixture_teardown
)
READ_ONLY_POLICY = (
    '{"Version": "2012-10-17", "Statement": ['
    '{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}'
)


@pytest.fixture(autouse=True)
def _fast_and_plain(settings):
    # The MD5 hasher keeps sign-in tests fast; plain static storage needs no collectstatic.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    yield
    cache.clear()


class Client(DjangoClient):
    """The test client. `force_login` signs in the way a person would end up: with the
    second factor already given when their account needs one (staff, or a tenant that
    requires it) or has one. `force_login(user, verified=False)` stops before the code."""

    def force_login(self, user, backend=None, *, verified=True):
        super().force_login(user, backend)
        if verified and (mfa.required_for(user) or mfa.has_second_factor(user)):
            device, _ = TOTPDevice.objects.get_or_create(
                user=user, name="Test authenticator", defaults={"confirmed": True}
            )
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()


@pytest.fixture
def client():
    return Client()


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    alice: User
    bob: User
    carol: User


@pytest.fixture
def world(db):
    tenant_a = TenantFactory(slug="acme", name="Acme")
    tenant_b = TenantFactory(slug="globex", name="Globex")
    alice = UserFactory(username="alice", is_staff=True)
    bob = UserFactory(username="bob")
    carol = UserFactory(username="carol")
    MembershipFactory(user=alice, tenant=tenant_a, role=Membership.Role.ADMIN)
    MembershipFactory(user=bob, tenant=tenant_a)
    MembershipFactory(user=carol, tenant=tenant_b)
    return World(tenant_a, tenant_b, alice, bob, carol)


# --- the sandbox AWS --------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox_server():
    """One sandbox AWS per test process, on a free loopback port."""
    server = sandbox_module.serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def sandbox(sandbox_server, monkeypatch, settings):
    """The sandbox, emptied, with the portal pointed at it through boto3's own variables."""
    server, url = sandbox_server
    app = server.app
    app.reset()
    for name in [
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_IAM",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sandbox-broker")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sandbox-broker-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings.AWS_FEDERATION_ENDPOINT = f"{url}/federation"
    settings.AWS_SANDBOX_URL = url
    aws.reset_clients()
    app.url = url
    yield app
    app.faults = {}
    aws.reset_clients()


@pytest.fixture
def demo_role(sandbox, world):
    """A role in the sandbox that trusts the portal with tenant A's external id."""
    return services.create_broker_role(
        name="AcmeAdmin",
        tenant=world.tenant_a,
        max_session_seconds=43200,
        policy_document=READ_ONLY_POLICY,
    )


@pytest.fixture
def bob_grant(world, demo_role):
    """Bob may assume AcmeAdmin in tenant A for up to 12 hours."""
    return services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=demo_role,
        label="Acme admin",
        max_session_seconds=43200,
    )


# --- /metrics, read as Prometheus reads it ---------------------------------------------------

METRICS_TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def scraper(settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    settings.METRICS_ALLOWED_IPS, settings.METRICS_ALLOWED_NETWORKS = [], []

    client = Client()

    def scrape():
        """/metrics now, read with prometheus-client's own parser."""
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return samples(response.content.decode())

    return scrape


def samples(text):
    """{(sample name, frozenset of labels): value} from the text format."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0.0)
