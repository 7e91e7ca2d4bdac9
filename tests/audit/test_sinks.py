"""Setting up audit sinks in the admin: tenant admins stream their own tenant's records to
public hosts; operators stream every record, inside the company network if they like.
Every change is in the trail, never with the token."""

import pytest
from django.core.exceptions import PermissionDenied
from django_tasks_db.models import DBTaskResult

from audit import sinks
from audit.models import AuditEvent, AuditSink
from audit.records import RequestMeta
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/audit/auditsink/add/"


@pytest.fixture(autouse=True)
def _public_hosts_only(settings):
    settings.AUDIT_SINK_ALLOW_PRIVATE = False


@pytest.fixture
def as_alice(client, world):
    client.force_login(world.alice)
    return client


@pytest.fixture
def operator():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def as_operator(client, operator):
    client.force_login(operator)
    return client


def form(world=None, **overrides):
    return {
        "tenant": world.tenant_a.pk if world else "",
        "name": "Acme SIEM",
        "kind": "https_json",
        # A literal public address: nothing to resolve, and nothing is sent in these tests.
        "destination": "https://8.8.8.8/ingest?key=query-secret",
        "token": "",
        "ca_certificate": "",
        "active": "on",
        "start": "first",
        **overrides,
    }


def trail(prefix="sink."):
    return list(
        AuditEvent.objects.unscoped("test")
        .filter(action__startswith=prefix)
        .order_by("sequence")
        .values_list("action", "actor_username", "tenant", "detail")
    )


def test_a_tenant_admin_streams_their_tenants_records_to_a_public_host(as_alice, world):
    response = as_alice.post(ADD, form(world))
    assert response.status_code == 302, response.content.decode()
    sink = AuditSink.rows.get()
    assert sink.tenant == world.tenant_a and sink.cursor == 0
    [(action, actor, tenant, detail)] = trail()
    assert (action, actor, tenant) == ("sink.added", "alice", world.tenant_a.pk)
    assert detail == (
        "HTTPS endpoint (NDJSON) 'Acme SIEM' to https://8.8.8.8/…, acme's records, "
        "from the first record"
    )


@pytest.mark.parametrize(
    ("kind", "destination"),
    [
        ("https_json", "https://10.0.0.5/ingest"),
        ("https_json", "https://127.0.0.1/ingest"),
        ("splunk_hec", "https://169.254.169.254/latest/meta-data/"),
        ("https_json", "http://8.8.8.8/ingest"),
        ("https_json", "https://user:password@8.8.8.8/ingest"),
        ("syslog_tls", "10.0.0.5:6514"),
        ("syslog_tls", "[::1]:6514"),
        # 6to4 of 127.0.0.1 and of 10.0.0.5.
        ("https_json", "https://[2002:7f00:1::]/ingest"),
        ("syslog_tls", "[2002:a00:5::1]:6514"),
    ],
)
def test_a_tenant_admins_sink_must_be_on_a_public_host(as_alice, world, kind, destination):
    token = "t" if kind == "splunk_hec" else ""
    data = form(world, kind=kind, destination=destination, token=token)
    response = as_alice.post(ADD, data)
    assert response.status_code == 200
    assert not AuditSink.rows.exists()


def test_the_setting_lets_tenants_stream_inside_the_company_network(as_alice, world, settings):
    settings.AUDIT_SINK_ALLOW_PRIVATE = True
    data = form(world, kind="syslog_tls", destination="10.0.0.5:6514")
    assert as_alice.post(ADD, data).status_code == 302
    assert AuditSink.rows.get().destination == "10.0.0.5:6514"


def test_only_an_operator_may_add_the_sink_that_receives_every_record(as_alice, world):
    response = as_alice.post(ADD, form(None))
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not AuditSink.rows.exists()
    # The service refuses it too, whatever calls it.
    sink = AuditSink(name="all", kind="https_json", destination="https://8.8.8.8/")
    with pytest.raises(PermissionDenied):
        sinks.save_sink(sink=sink, token="", actor=world.alice, meta=RequestMeta())


def test_the_operators_sink_may_be_inside_the_company_network(as_operator, world):
    data = form(None, kind="syslog_tls", destination="10.0.0.5:6514", name="Platform SIEM")
    response = as_operator.post(ADD, data)
    assert response.status_code == 302, response.content.decode()
    sink = AuditSink.rows.get()
    assert sink.tenant is None
    [(action, actor, tenant, detail)] = trail()
    assert (action, actor, tenant) == ("sink.added", "root", None)
    assert "to 10.0.0.5:6514, every tenant's records" in detail
    assert "every record" in as_operator.get("/admin/audit/auditsink/").content.decode()


def test_tenant_admins_never_see_the_operators_sink(as_alice, world):
    sink = AuditSink.rows.create(
        name="platform-siem", kind="syslog_tls", destination="10.0.0.5:6514"
    )
    assert b"platform-siem" not in as_alice.get("/admin/audit/auditsink/").content
    for view in ["change", "history", "delete"]:
        assert as_alice.get(f"/admin/audit/auditsink/{sink.pk}/{view}/").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"kind": "splunk_hec"}, "token", "The HEC token Splunk gave"),
        (
            {"kind": "syslog_tls", "destination": "8.8.8.8:6514", "token": "x"},
            "token",
            "takes no token",
        ),
        (
            {"kind": "syslog_tls", "destination": "8.8.8.8:6514/path"},
            "destination",
            "host:port",
        ),
        ({"ca_certificate": "not a certificate"}, "ca_certificate", "PEM"),
    ],
)
def test_the_form_asks_for_what_each_kind_needs(as_alice, world, overrides, field, message):
    response = as_alice.post(ADD, form(world, **overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert not AuditSink.rows.exists()


def test_changes_and_removal_are_recorded_and_the_token_kept_unless_replaced(as_alice, world):
    data = form(world, kind="splunk_hec", destination="https://8.8.8.8", token="first-token")
    assert as_alice.post(ADD, data).status_code == 302
    sink = AuditSink.rows.get()
    change = f"/admin/audit/auditsink/{sink.pk}/change/"
    page = as_alice.get(change).content.decode()
    assert "first-token" not in page and "A token is saved" in page

    # As a browser sends it: where a sink starts is no longer asked.
    data.pop("start")
    assert as_alice.post(change, {**data, "token": "", "name": "Acme Splunk"}).status_code == 302
    assert AuditSink.rows.get().token() == "first-token"
    assert as_alice.post(change, {**data, "token": "second-token"}).status_code == 302
    assert AuditSink.rows.get().token() == "second-token"
    assert as_alice.post(f"/admin/audit/auditsink/{sink.pk}/delete/", {"post": "yes"}).status_code
    assert not AuditSink.rows.exists()

    assert [row[:3] for row in trail()] == [
        ("sink.added", "alice", world.tenant_a.pk),
        ("sink.changed", "alice", world.tenant_a.pk),
        ("sink.changed", "alice", world.tenant_a.pk),
        ("sink.removed", "alice", world.tenant_a.pk),
    ]
    details = [row[3] for row in trail()]
    assert details[1].endswith("changed name")
    assert details[2].endswith("changed name, token replaced")
    assert not any("first-token" in detail or "second-token" in detail for detail in details)


def test_a_sink_pointed_elsewhere_needs_its_token_given_again(as_alice, world):
    data = form(world, kind="splunk_hec", destination="https://8.8.8.8", token="first-token")
    assert as_alice.post(ADD, data).status_code == 302
    sink = AuditSink.rows.get()
    change = f"/admin/audit/auditsink/{sink.pk}/change/"
    data.pop("start")

    # Another admin of the tenant points it at a host of their own: the saved token stays
    # where it was given for.
    moved = as_alice.post(change, {**data, "destination": "https://9.9.9.9", "token": ""})
    assert moved.status_code == 200
    assert "Enter the token again" in moved.content.decode()
    assert AuditSink.rows.get().destination == "https://8.8.8.8"
    assert as_alice.post(change, {**data, "ca_certificate": "x", "token": ""}).status_code == 200

    given = {**data, "destination": "https://9.9.9.9", "token": "their-token"}
    assert as_alice.post(change, given).status_code == 302
    assert AuditSink.rows.get().token() == "their-token"


def test_a_destinations_path_never_reaches_the_trail(as_alice, world):
    # Some collectors take their key in the path (Sumo Logic, Loggly).
    url = "https://8.8.8.8/receiver/v1/http/path-secret-4242"
    assert as_alice.post(ADD, form(world, destination=url)).status_code == 302
    [(_, _, _, detail)] = trail()
    assert "path-secret-4242" not in detail and "https://8.8.8.8/…" in detail
    listing = as_alice.get("/admin/audit/auditsink/").content.decode()
    assert "path-secret-4242" not in listing


def test_a_change_never_rewinds_what_the_worker_delivered(world):
    sink = sinks.save_sink(
        sink=AuditSink(
            tenant=world.tenant_a, name="SIEM", kind="https_json", destination="https://8.8.8.8/"
        ),
        token="",
        actor=world.alice,
        meta=RequestMeta(),
    )
    # The worker moves on while someone edits the copy they loaded earlier.
    AuditSink.rows.filter(pk=sink.pk).update(cursor=42, lease_token="busy")
    sink.name = "Acme SIEM"
    sinks.save_sink(sink=sink, token="", actor=world.alice, meta=RequestMeta(), changed=["name"])
    saved = AuditSink.rows.get()
    assert (saved.name, saved.cursor, saved.lease_token) == ("Acme SIEM", 42, "busy")


def test_deliver_now_queues_a_delivery_without_waiting_for_the_next_attempt(as_alice, world):
    assert as_alice.post(ADD, form(world)).status_code == 302
    sink = AuditSink.rows.get()
    AuditSink.rows.filter(pk=sink.pk).update(failures=4, retry_after="2999-01-01T00:00:00Z")
    as_alice.post(
        "/admin/audit/auditsink/", {"action": "deliver_now", "_selected_action": [sink.pk]}
    )
    sink.refresh_from_db()
    assert sink.retry_after is None
    [task] = DBTaskResult.objects.filter(task_path="audit.tasks.deliver_to_sink")
    assert sink.queued_task == str(task.id) and task.args_kwargs["args"] == [sink.pk]
