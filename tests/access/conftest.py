"""Access on request: bob may use AcmeAdmin only inside a window dave (or erin) approves.

dave and erin are members of Acme with an authenticator app; alice runs Acme; carol is in
Globex. Bob's standing grant from the shared fixtures is not used here.
"""

import email
import signal

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult

from access.models import AccessRequest
from audit.records import RequestMeta
from federation import services
from federation.models import RoleMapping
from tests.conftest import Client
from tests.factories import MembershipFactory, UserFactory
from tests.servers import free_port


def with_authenticator(user):
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


@pytest.fixture
def dave(world):
    person = with_authenticator(UserFactory(username="dave"))
    MembershipFactory(user=person, tenant=world.tenant_a)
    return person


@pytest.fixture
def erin(world):
    person = with_authenticator(UserFactory(username="erin"))
    MembershipFactory(user=person, tenant=world.tenant_a)
    return person


@pytest.fixture
def on_request(world, demo_role, dave):
    """Bob's grant of AcmeAdmin, used on request: dave approves, windows up to two hours,
    break-glass allowed."""
    return services.grant_role(
        actor=world.alice,
        tenant=world.tenant_a,
        user=world.bob,
        role_arn=demo_role,
        label="Acme admin (on request)",
        max_session_seconds=43200,
        activation=RoleMapping.Activation.ON_REQUEST,
        approvers=[dave],
        max_activation_seconds=7200,
        break_glass=True,
    )


def globex_approver(world):
    """gina, who approves in Globex."""
    gina = UserFactory(username="gina")
    MembershipFactory(user=gina, tenant=world.tenant_b)
    return gina


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bob_client(world):
    return client_for(world.bob)


@pytest.fixture
def dave_client(dave):
    return client_for(dave)


def ask(client, grant, *, duration=3600, justification="Rotate the prod database keys", **more):
    data = {"duration": str(duration), "justification": justification, **more}
    return client.post(f"/requests/new/{grant.pk}/", data)


def file(world, grant, **options):
    """A request by bob, filed through the service (for tests about what follows)."""
    from access.services import file_request

    fields = {"seconds": 3600, "justification": "Rotate the prod database keys", **options}
    return file_request(user=world.bob, grant_id=grant.pk, meta=RequestMeta(), **fields)


def decide(client, access, decision="approve", comment=""):
    return client.post(f"/approvals/{access.pk}/", {"decision": decision, "comment": comment})


def state_of(access):
    return AccessRequest.objects.unscoped("test").get(pk=access.pk).state


# --- delivery: a real SMTP server on loopback and the real worker -------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox(settings):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield handler.messages
    controller.stop()


def run_worker():
    """`manage.py db_worker --batch`: every task that is ready, then it stops."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command(
            "db_worker", batch=True, startup_delay=False, reload=False, interval=0, verbosity=0
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    # Every task ended well: a failed delivery is a retry or an audit record, not a crash.
    assert set(DBTaskResult.objects.values_list("status", flat=True)) <= {"SUCCESSFUL"}
