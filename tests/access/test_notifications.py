"""Notifications reach people and channels through the real background worker: a real SMTP
server and real HTTP receivers on loopback, `manage.py db_worker` run for real."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from access.models import NotificationChannel
from access.notifications import notify, signing_key, validate_webhook_url
from audit.models import AuditEvent
from tests.access.conftest import run_worker
from tests.servers import free_port

SECRETS = ["ASIA", "SigninToken", "SecretAccessKey"]
# Transactional: the worker opens its own transactions, as it does in production.
delivered = pytest.mark.django_db(transaction=True)


# --- the servers on loopback ---------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: keeps each request, answers `statuses` in turn (the last one
    from then on), after `delay` seconds."""

    block_on_close = False  # a hanging handler must not hold up the test's end

    def __init__(self, statuses=(200,), delay=0.0):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.statuses, self.delay, self.received = list(statuses), delay, []
        self.url = f"http://127.0.0.1:{self.server_port}"

    def bodies(self, path=None):
        return [json.loads(body) for got, _, body in self.received if path in (None, got)]


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        time.sleep(self.server.delay)
        status = self.server.statuses.pop(0) if len(self.server.statuses) > 1 else None
        try:
            self.send_response(status or self.server.statuses[0])
            self.end_headers()
        except OSError:
            pass  # the portal gave up waiting

    def log_message(self, *args):
        pass


@pytest.fixture
def receivers():
    started = []

    def start(**kwargs):
        server = Receiver(**kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _quick_retries_to_loopback(settings):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = True
    settings.NOTIFICATION_RETRY_SECONDS = [0, 0]
    settings.NOTIFICATION_TIMEOUT_SECONDS = 1
    settings.PORTAL_ISSUER_URL = "https://portal.example.com/"


# --- helpers --------------------------------------------------------------------------------


def channel(tenant, kind, url, **fields):
    return NotificationChannel.rows.create(
        tenant=tenant, name=f"{kind} channel", kind=kind, url=url, **fields
    )


def new_request(world, **overrides):
    """What the access services tell approvers about bob's new request."""
    fields = {
        "tenant": world.tenant_a,
        "event": "request.created",
        "people": [world.alice],
        "subject": "bob asks for Acme admin",
        "text": "bob asks for Acme admin for 1 hour: deploying the hotfix (INC-42).",
        "link": "/approvals/",
        "request_id": 7,
    }
    with transaction.atomic():
        notify(**{**fields, **overrides})


def failures():
    return list(
        AuditEvent.objects.unscoped("test")
        .filter(action="notification.failed")
        .values_list("detail", flat=True)
    )


# --- e-mail ---------------------------------------------------------------------------------


@delivered
def test_each_person_gets_one_email_with_the_subject_text_and_an_absolute_link(world, inbox):
    new_request(world, people=[world.alice, world.bob, world.alice])
    run_worker()

    assert sorted(message["To"] for message in inbox) == ["alice@example.com", "bob@example.com"]
    message = inbox[0]
    assert message["Subject"] == "bob asks for Acme admin"
    body = message.get_payload()
    assert "deploying the hotfix (INC-42)" in body
    assert "https://portal.example.com/approvals/" in body


@delivered
def test_nothing_is_sent_for_a_change_that_rolls_back(world, inbox, receivers):
    receiver = receivers()
    channel(world.tenant_a, "webhook", receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(
            tenant=world.tenant_a,
            event="request.created",
            people=[world.alice],
            subject="never",
            text="never",
        )
        raise RuntimeError("the change failed")
    assert not DBTaskResult.objects.exists()
    run_worker()
    assert inbox == [] and receiver.received == []


@delivered
def test_a_mail_server_that_is_down_leaves_one_failed_record(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    new_request(world, people=[world.bob])
    run_worker()
    assert failures() == ["e-mail to bob: connection refused after 3 attempts"]


@delivered
def test_times_are_in_the_tenants_zone_for_people_without_one_and_for_its_channels(
    world, inbox, receivers
):
    world.tenant_a.time_zone = "Asia/Tokyo"
    world.tenant_a.save(update_fields=["time_zone"])
    world.bob.time_zone = "America/New_York"
    world.bob.save(update_fields=["time_zone"])
    receiver = receivers()
    channel(world.tenant_a, "webhook", receiver.url)
    new_request(
        world,
        people=[world.alice, world.bob],  # alice has no zone of her own
        text=lambda zone: f"ends {zone}",
    )
    run_worker()
    bodies = {message["To"]: message.get_payload() for message in inbox}
    assert "ends Asia/Tokyo" in bodies["alice@example.com"]
    assert "ends America/New_York" in bodies["bob@example.com"]
    [webhook] = receiver.bodies("/")
    assert webhook["text"] == "ends Asia/Tokyo"


# --- webhooks -------------------------------------------------------------------------------


@delivered
def test_slack_teams_and_the_signed_webhook_each_get_their_own_shape(world, receivers):
    receiver = receivers()
    channel(world.tenant_a, "slack", f"{receiver.url}/slack")
    channel(world.tenant_a, "teams", f"{receiver.url}/teams")
    channel(world.tenant_a, "webhook", f"{receiver.url}/webhook")
    channel(world.tenant_a, "webhook", f"{receiver.url}/off", active=False)
    channel(world.tenant_b, "webhook", f"{receiver.url}/globex")
    new_request(world, subject="bob asks for <Acme> admin")
    run_worker()

    assert sorted(path for path, _, _ in receiver.received) == ["/slack", "/teams", "/webhook"]
    # Slack: one mrkdwn text, with what people wrote escaped (no <!channel> mentions).
    assert receiver.bodies("/slack") == [
        {
            "text": "*bob asks for &lt;Acme&gt; admin*\n"
            "bob asks for Acme admin for 1 hour: deploying the hotfix (INC-42).\n"
            "<https://portal.example.com/approvals/|Open in Portcullis>"
        }
    ]
    [teams] = receiver.bodies("/teams")
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [run["text"] for block in card["body"] for run in block["inlines"]] == [
        "bob asks for <Acme> admin",
        "bob asks for Acme admin for 1 hour: deploying the hotfix (INC-42).",
    ]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": "https://portal.example.com/approvals/"}
    ]
    [webhook] = receiver.bodies("/webhook")
    assert webhook.pop("sent_at")
    assert webhook == {
        "event": "request.created",
        "tenant": "acme",
        "subject": "bob asks for <Acme> admin",
        "text": "bob asks for Acme admin for 1 hour: deploying the hotfix (INC-42).",
        "link": "https://portal.example.com/approvals/",
        "request_id": 7,
    }


@delivered
def test_a_teams_card_shows_what_people_wrote_as_plain_text_never_as_markdown(world, receivers):
    receiver = receivers()
    channel(world.tenant_a, "teams", receiver.url)
    link = "[Approve in Portcullis](https://evil.example/approve)"
    new_request(world, subject=f"bob asks for **{link}**", text=f"Reason: {link}\n- _now_")
    run_worker()

    [teams] = receiver.bodies("/")
    body = teams["attachments"][0]["content"]["body"]
    # Only TextRuns carry text: Adaptive Cards read no Markdown in them, TextBlocks do.
    assert {block["type"] for block in body} == {"RichTextBlock"}
    assert [[run["type"] for run in block["inlines"]] for block in body] == [["TextRun"]] * 2
    assert [block["inlines"][0]["text"] for block in body] == [
        f"bob asks for **{link}**",
        f"Reason: {link}\n- _now_",
    ]


@delivered
def test_the_signed_webhook_verifies_with_the_channels_signing_key(world, receivers):
    receiver = receivers()
    hook = channel(world.tenant_a, "webhook", receiver.url)
    new_request(world)
    run_worker()

    [(_, headers, body)] = receiver.received
    timestamp = headers["X-Portcullis-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(signing_key(hook), timestamp.encode() + b"." + body, hashlib.sha256)
    assert headers["X-Portcullis-Signature"] == f"sha256={expected.hexdigest()}"
    # Another channel has another key.
    other = channel(world.tenant_a, "webhook", receiver.url)
    assert signing_key(other) != signing_key(hook)


@delivered
def test_a_receiver_that_fails_once_gets_the_message_exactly_once_on_the_retry(world, receivers):
    receiver = receivers(statuses=[500, 200])
    channel(world.tenant_a, "slack", receiver.url)
    new_request(world)
    run_worker()

    assert len(receiver.received) == 2  # the 500, then the one that was taken
    assert DBTaskResult.objects.filter(task_path="access.tasks.deliver_webhook").count() == 2
    assert failures() == []


@delivered
def test_a_receiver_that_always_fails_leaves_one_failed_record_without_its_url(world, receivers):
    receiver = receivers(statuses=[500])
    channel(world.tenant_a, "teams", f"{receiver.url}/secret-path?sig=abc")
    new_request(world)
    run_worker()

    assert len(receiver.received) == 3
    assert failures() == [
        "Microsoft Teams workflow webhook 'teams channel': HTTP 500 after 3 attempts"
    ]
    [event] = AuditEvent.objects.unscoped("test").filter(action="notification.failed")
    assert event.tenant == world.tenant_a


@delivered
def test_a_hanging_receiver_is_bounded_by_the_timeout_and_holds_nobody_up(
    world, receivers, settings
):
    settings.NOTIFICATION_RETRY_SECONDS = []
    receiver = receivers(delay=3)
    channel(world.tenant_a, "webhook", receiver.url)

    started = time.monotonic()
    new_request(world)
    assert time.monotonic() - started < 0.5  # the request only enqueued

    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < 2.5
    assert failures() == ["Signed JSON webhook 'webhook channel': timed out after 1 attempt"]


@delivered
def test_a_channel_switched_off_before_delivery_is_dropped_quietly(world, receivers):
    receiver = receivers()
    hook = channel(world.tenant_a, "webhook", receiver.url)
    gone = channel(world.tenant_a, "slack", receiver.url)
    new_request(world)
    NotificationChannel.rows.filter(pk=hook.pk).update(active=False)
    gone.delete()
    run_worker()
    assert receiver.received == [] and failures() == []


@delivered
def test_no_message_carries_a_credential(world, inbox, receivers):
    receiver = receivers()
    for kind in ["slack", "teams", "webhook"]:
        channel(world.tenant_a, kind, receiver.url)
    new_request(world, people=[world.alice, world.bob])
    run_worker()

    sent = [body.decode() for _, _, body in receiver.received]
    sent += [message.as_string() for message in inbox]
    assert len(sent) == 5
    assert [secret for text in sent for secret in SECRETS if secret in text] == []


# --- which URLs a channel may have ------------------------------------------------------------


REFUSED = [
    "http://hooks.example.com/x",
    "https://127.0.0.1/hook",
    "https://10.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    # 6to4 and Teredo forms of 127.0.0.1, and 169.254.169.254 mapped into IPv6.
    "https://[2002:7f00:1::]/hook",
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://localhost/hook",
    "https://user:pass@8.8.8.8/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_webhook_url_must_be_https_and_public(settings, url):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


@pytest.mark.parametrize("url", REFUSED[:-1])
def test_the_setting_allows_http_and_private_receivers(settings, url):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = True
    validate_webhook_url(url.replace("hooks.example.com", "127.0.0.1"))


def test_credentials_in_a_url_are_refused_even_when_private_receivers_are_allowed(settings):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = True
    with pytest.raises(ValidationError):
        validate_webhook_url("http://user:pass@127.0.0.1/hook")


def test_a_public_https_url_is_accepted(settings):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = False
    validate_webhook_url("https://8.8.8.8/hook")  # a literal address: no DNS needed


# --- the admin pages ------------------------------------------------------------------------


@pytest.fixture
def as_alice(client, world):
    client.force_login(world.alice)
    return client


def channel_form(world, **overrides):
    return {
        "tenant": world.tenant_a.pk,
        "name": "Ops",
        "kind": "webhook",
        "url": "https://8.8.8.8/hook",
        "active": "on",
        **overrides,
    }


@pytest.mark.django_db
def test_the_admin_refuses_a_private_webhook_url(as_alice, world, settings):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = False
    response = as_alice.post(
        "/admin/access/notificationchannel/add/",
        channel_form(world, url="https://169.254.169.254/latest/meta-data/"),
    )
    assert response.status_code == 200
    assert b"private or link-local" in response.content
    assert not NotificationChannel.rows.exists()


@pytest.mark.django_db
def test_the_admin_shows_the_signing_key_and_makes_a_new_one(as_alice, world, settings):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = False
    response = as_alice.post("/admin/access/notificationchannel/add/", channel_form(world))
    assert response.status_code == 302, response.content.decode()
    hook = NotificationChannel.rows.get()
    page = as_alice.get(f"/admin/access/notificationchannel/{hook.pk}/change/").content.decode()
    assert signing_key(hook).hex() in page
    assert "it checks X-Portcullis-Signature" in page

    old_key = signing_key(hook)
    as_alice.post(
        "/admin/access/notificationchannel/",
        {"action": "new_signing_key", "_selected_action": [hook.pk]},
    )
    hook.refresh_from_db()
    assert signing_key(hook) != old_key


@pytest.mark.django_db
def test_the_admin_sends_a_test_message_to_the_selected_channels(
    as_alice, world, django_capture_on_commit_callbacks
):
    slack = channel(world.tenant_a, "slack", "https://8.8.8.8/slack")
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.post(
            "/admin/access/notificationchannel/",
            {"action": "send_test_message", "_selected_action": [slack.pk]},
        )
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "access.tasks.deliver_webhook"
    assert task.args_kwargs["args"][0] == slack.pk


@pytest.mark.django_db
def test_adding_changing_and_removing_a_channel_is_recorded_without_its_url(
    as_alice, world, settings
):
    settings.NOTIFICATION_ALLOW_PRIVATE_URLS = False
    assert (
        as_alice.post("/admin/access/notificationchannel/add/", channel_form(world)).status_code
        == 302
    )
    hook = NotificationChannel.rows.get()
    as_alice.post(
        "/admin/access/notificationchannel/",
        {"action": "new_signing_key", "_selected_action": [hook.pk]},
    )
    as_alice.post(
        f"/admin/access/notificationchannel/{hook.pk}/change/",
        channel_form(world, name="Ops alerts"),
    )
    as_alice.post(f"/admin/access/notificationchannel/{hook.pk}/delete/", {"post": "yes"})
    assert not NotificationChannel.rows.exists()
    trail = list(
        AuditEvent.objects.unscoped("test")
        .filter(action__startswith="channel.")
        .order_by("id")
        .values_list("action", "actor_username", "tenant", "detail")
    )
    assert [row[:3] for row in trail] == [
        ("channel.added", "alice", world.tenant_a.pk),
        ("channel.changed", "alice", world.tenant_a.pk),
        ("channel.changed", "alice", world.tenant_a.pk),
        ("channel.removed", "alice", world.tenant_a.pk),
    ]
    assert "new signing key" in trail[1][3] and "changed name" in trail[2][3]
    assert not any("8.8.8.8" in row[3] for row in trail)


# --- TLS: the checked address is the one connected to, the certificate still checked -------


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 with a certificate for "localhost", trusted as the
    portal's certificate authorities for the test."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr("core.outbound.CA_BUNDLE", str(cert_file))
    yield server
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_checked_address_with_the_hosts_certificate(tls_receiver):
    from access.webhooks import DeliveryFailed, send

    port = tls_receiver.server_port
    hook = NotificationChannel(kind="slack", url=f"https://localhost:{port}/hook")
    send(hook, {"subject": "s", "text": "t", "link": ""})
    (body,) = tls_receiver.bodies("/hook")
    assert body == {"text": "*s*\nt"}
    # The certificate names localhost, not the address: a mismatch is refused.
    wrong = NotificationChannel(kind="slack", url=f"https://127.0.0.1:{port}/hook")
    with pytest.raises(DeliveryFailed, match="TLS failed"):
        send(wrong, {"subject": "s", "text": "t", "link": ""})
