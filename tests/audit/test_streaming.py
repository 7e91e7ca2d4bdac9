"""The audit trail streams to SIEMs through the real background worker: real receivers on
loopback (a Splunk HEC / NDJSON collector over HTTP, a syslog receiver over TLS with a
certificate made here) that refuse, hang, go down mid-stream and come back. Every record
arrives, in order; a record arrives twice only after a crash, with the same sequence number.
"""

import logging
import re
import signal
import threading
import time

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit import sinks, streaming, tasks
from audit.models import AuditEvent, AuditSink
from audit.records import RequestMeta, record
from tests.audit.siem import (
    HttpCollector,
    SyslogReceiver,
    deliver_until,
    in_thread_with_database,
    run_worker,
)
from tests.conftest import value
from tests.factories import UserFactory
from tests.servers import free_port, self_signed_certificate

# Transactional: the worker opens its own transactions, as it does in production.
pytestmark = pytest.mark.django_db(transaction=True)

DELIVERY_TASK = "audit.tasks.deliver_to_sink"


@pytest.fixture(autouse=True)
def _quick_and_on_loopback(settings):
    settings.AUDIT_SINK_KICK_SECONDS = 0
    settings.AUDIT_SINK_RETRY_SECONDS = [0.05, 0.1, 0.2]
    settings.AUDIT_SINK_TIMEOUT_SECONDS = 1
    settings.AUDIT_SINK_ALLOW_PRIVATE = True
    settings.PORTAL_ISSUER_URL = "https://portal.example.com/"


@pytest.fixture
def receivers():
    started = []

    def start(receiver):
        started.append(receiver.start())
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def collector(receivers):
    return receivers(HttpCollector())


@pytest.fixture
def certificate(tmp_path):
    return self_signed_certificate(tmp_path)


@pytest.fixture
def syslog(receivers, certificate):
    return receivers(SyslogReceiver(certificate))


# --- helpers --------------------------------------------------------------------------------


def add_sink(kind, destination, *, tenant=None, token="", ca="", from_start=True):
    """A sink set up as the admin does it (the operator's when no tenant)."""
    sink = AuditSink(
        tenant=tenant, name=f"{kind} sink", kind=kind, destination=destination, ca_certificate=ca
    )
    return sinks.save_sink(
        sink=sink, token=token, actor=None, meta=RequestMeta(), from_start=from_start
    )


def write(count, tenant=None, action="console.issued"):
    for number in range(count):
        record(action, tenant=tenant, detail=f"record {number + 1} of {count}")


def trail(tenant=None):
    """The sequence numbers a sink should receive: all of them, or one tenant's."""
    events = AuditEvent.objects.unscoped("test").order_by("sequence")
    if tenant is not None:
        events = events.filter(tenant=tenant)
    return list(events.values_list("sequence", flat=True))


def state(sink):
    return AuditSink.rows.get(pk=sink.pk)


def first_arrivals(sequences):
    return list(dict.fromkeys(sequences))


def repeated(sequences):
    """The sequence numbers that arrived again, in the order they did."""
    seen, again = set(), []
    for sequence in sequences:
        if sequence in seen:
            again.append(sequence)
        seen.add(sequence)
    return again


def ready_deliveries():
    return DBTaskResult.objects.ready().filter(task_path=DELIVERY_TASK).count()


# --- what each kind of receiver gets --------------------------------------------------------


def test_the_operators_sink_gets_every_record_in_order_as_splunk_hec_events(world, collector):
    write(2, world.tenant_a)
    write(2, world.tenant_b)
    write(1)  # a record of no tenant
    sink = add_sink("splunk_hec", collector.url, token="hec-token-1")
    deliver_until(lambda: collector.sequences() == trail())

    path, headers = collector.headers[0]
    assert path == "/services/collector/event"  # added to a URL without a path
    assert headers["Authorization"] == "Splunk hec-token-1"
    assert headers["Content-Type"] == "application/json"
    event = (
        AuditEvent.objects.unscoped("test").filter(action="console.issued").order_by("sequence")
    ).first()
    first = collector.bodies[0].split("\n")[0]
    start = r'^\{"time":\d+\.\d+,"host":"portal\.example\.com","source":"portcullis",'
    assert re.match(start, first)
    assert '"sourcetype":"portcullis:audit","event":{"sequence":1,' in first
    [received] = [r for r in collector.records if r["sequence"] == event.sequence]
    assert received["hash"] == event.hash and received["prev_hash"] == event.prev_hash
    assert received["tenant"] == "acme" and received["detail"] == "record 1 of 2"
    assert received["created_at"] == event.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Every field of the record.
    assert {f.attname for f in AuditEvent._meta.concrete_fields} <= set(received)
    assert {r["tenant"] for r in collector.records} == {"acme", "globex", None}
    assert state(sink).cursor == trail()[-1] and state(sink).last_success_at


def test_a_tenants_sink_gets_only_its_tenants_records_as_ndjson(world, collector, receivers):
    globex = receivers(HttpCollector())
    acme_sink = add_sink("https_json", f"{collector.url}/ingest?k=1", tenant=world.tenant_a)
    add_sink("https_json", globex.url, tenant=world.tenant_b, token="globex-bearer")
    operators = receivers(HttpCollector())
    add_sink("https_json", operators.url)
    write(3, world.tenant_a)
    write(2, world.tenant_b)
    write(2)
    deliver_until(
        lambda: (
            collector.sequences() == trail(world.tenant_a)
            and globex.sequences() == trail(world.tenant_b)
            and operators.sequences() == trail()
        )
    )
    assert {r["tenant"] for r in collector.records} == {"acme"}
    assert {r["tenant"] for r in globex.records} == {"globex"}
    path, headers = collector.headers[0]
    assert path == "/ingest?k=1"
    assert headers["Content-Type"] == "application/x-ndjson"
    assert "Authorization" not in headers
    assert globex.headers[0][1]["Authorization"] == "Bearer globex-bearer"
    # One record per line, oldest first.
    lines = collector.bodies[-1].splitlines()
    assert len(lines) == len(collector.batches[-1]) and lines[0].startswith('{"sequence":')
    assert state(acme_sink).cursor == trail(world.tenant_a)[-1]


def test_syslog_over_tls_carries_rfc5424_messages_framed_by_octet_counting(
    world, syslog, certificate
):
    write(2, world.tenant_a)
    add_sink("syslog_tls", syslog.destination, ca=certificate[0])
    deliver_until(lambda: syslog.sequences() == trail())

    event = (
        AuditEvent.objects.unscoped("test").filter(action="console.issued").order_by("sequence")
    ).first()
    [message] = [m for m in syslog.messages if f'sequence="{event.sequence}"' in m]
    header = (
        f"<110>1 {event.created_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} portal.example.com "
        f'portcullis - console.issued [portcullis@32473 sequence="{event.sequence}" '
        f'hash="{event.hash}" prev_hash="{event.prev_hash}" tenant="acme"] '
        f'{{"sequence":{event.sequence},'
    )
    assert message.startswith(header)
    assert '"detail":"record 1 of 2"' in message
    assert message.isascii()  # JSON in plain ASCII: no byte-order mark needed


def test_a_splunk_with_a_certificate_from_the_companys_own_ca_is_trusted_with_it(
    receivers, certificate
):
    splunk = receivers(HttpCollector(certificate=certificate))
    sink = add_sink("splunk_hec", splunk.url, token="t", ca=certificate[0])
    write(2)
    deliver_until(lambda: splunk.sequences() == trail())
    assert state(sink).last_error == ""

    stranger = receivers(HttpCollector(certificate=certificate))
    sink = add_sink("splunk_hec", stranger.url, token="t")  # the public authorities only
    run_worker()
    assert stranger.records == [] and state(sink).last_error == "TLS failed"


def test_a_syslog_receiver_whose_certificate_is_not_trusted_gets_nothing(world, syslog):
    write(1)
    sink = add_sink("syslog_tls", syslog.destination)  # no CA: the public authorities
    run_worker()
    assert syslog.records == []
    assert state(sink).last_error == "certificate not trusted"
    assert state(sink).cursor == 0


def test_batches_are_bounded_and_follow_one_another_in_order(settings, collector):
    settings.AUDIT_SINK_BATCH = 5
    write(11)
    add_sink("https_json", collector.url)  # its own record is the twelfth
    deliver_until(lambda: collector.sequences() == trail())
    assert [[r["sequence"] for r in batch] for batch in collector.batches] == [
        [1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10],
        [11, 12],
    ]


def test_records_keep_flowing_without_a_task_per_record(settings, collector):
    settings.AUDIT_SINK_KICK_SECONDS = 0.2
    sink = add_sink("https_json", collector.url)
    deliver_until(lambda: collector.sequences() == trail())

    write(50)
    # One delivery waits for all fifty: each record's commit found it queued already.
    assert DBTaskResult.objects.filter(task_path=DELIVERY_TASK, status="READY").count() == 1
    deliver_until(lambda: collector.sequences() == trail())
    assert len(collector.batches[-1]) == 50
    assert state(sink).queued_task == ""


def test_a_sink_can_start_with_new_records_only(collector):
    write(3)
    add_sink("https_json", collector.url, from_start=False)
    write(1)
    deliver_until(lambda: collector.sequences() == trail()[3:])
    assert collector.records[0]["action"] == "sink.added"


# --- receivers that fail --------------------------------------------------------------------


def test_a_receiver_that_refuses_connections_gets_every_record_once_it_listens(collector):
    port = free_port()
    sink = add_sink("splunk_hec", f"http://127.0.0.1:{port}/services/collector/event", token="t")
    write(4)
    run_worker()
    down = state(sink)
    assert down.last_error == "connection refused"
    assert down.failing_since is not None and down.cursor == 0

    deliver_until(lambda: state(sink).failures >= tasks.RECORD_FAILURE_AFTER)
    [failed] = AuditEvent.objects.unscoped("test").filter(action="sink.failed")
    assert "connection refused" in failed.detail and str(port) not in failed.detail

    write(2)  # more records while it is down: they wait in the trail
    back = HttpCollector(port=port).start()
    try:
        deliver_until(lambda: back.sequences() == trail())
    finally:
        back.stop()
    up = state(sink)
    assert (up.last_error, up.failing_since, up.failures) == ("", None, 0)
    # The outage is in the trail, and so reached the SIEM too.
    actions = [r["action"] for r in back.records]
    assert "sink.failed" in actions and actions[-1] == "sink.recovered"


def test_metrics_count_failed_deliveries_and_how_far_behind_a_sink_is(scraper):
    port = free_port()
    sink = add_sink("https_json", f"http://127.0.0.1:{port}/ingest")
    before = value(scraper(), "portcullis_audit_stream_failures_total", kind="https_json")
    write(3)
    run_worker()
    found = scraper()
    assert value(found, "portcullis_audit_stream_failures_total", kind="https_json") == before + 1
    behind = value(
        found, "portcullis_audit_sink_lag_records", sink=str(sink.pk), kind="https_json", tenant="-"
    )
    assert behind == len(trail()) and behind >= 3

    back = HttpCollector(port=port).start()
    try:
        deliver_until(lambda: back.sequences() == trail())
    finally:
        back.stop()
    found = scraper()
    assert (
        value(
            found,
            "portcullis_audit_sink_lag_records",
            sink=str(sink.pk),
            kind="https_json",
            tenant="-",
        )
        == 0
    )


def test_a_receiver_that_hangs_is_given_up_on_at_the_timeout(settings, collector):
    settings.AUDIT_SINK_RETRY_SECONDS = [30]
    collector.delay = 3
    sink = add_sink("https_json", collector.url)
    write(2)

    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < 2.5
    assert state(sink).last_error == "timed out" and state(sink).cursor == 0

    collector.delay = 0
    sinks.deliver_now(sink)  # the operator does not wait 30 seconds
    deliver_until(lambda: first_arrivals(collector.sequences()) == trail())
    # It had read the batch it never answered: that batch again, and nothing else twice.
    assert repeated(collector.sequences()) == [r["sequence"] for r in collector.batches[0]]


def test_a_syslog_receiver_that_hangs_is_given_up_on_at_the_timeout(syslog, certificate):
    syslog.hang = True
    sink = add_sink("syslog_tls", syslog.destination, ca=certificate[0])
    started = time.monotonic()
    run_worker()
    assert time.monotonic() - started < 2.5
    assert state(sink).last_error == "timed out" and state(sink).cursor == 0


def test_a_collector_that_goes_down_mid_stream_and_comes_back_gets_each_record_once(
    settings, collector
):
    settings.AUDIT_SINK_BATCH = 5
    write(12)
    sink = add_sink("splunk_hec", collector.url, token="t")
    run_worker(max_tasks=2)  # two batches taken...
    assert collector.sequences() == trail()[:10]
    collector.stop()  # ...then the SIEM goes down
    write(3)
    run_worker()
    assert state(sink).last_error == "connection refused" and state(sink).cursor == 10

    collector.start()
    deliver_until(lambda: collector.sequences() == trail())  # all, in order, none twice
    assert state(sink).cursor == trail()[-1]


def test_a_syslog_receiver_that_dies_mid_stream_gets_the_batch_again_once_it_is_back(
    syslog, certificate
):
    write(9)
    syslog.crash_after = 3  # reads three records of the first batch, then dies
    sink = add_sink("syslog_tls", syslog.destination, ca=certificate[0])
    deliver_until(lambda: syslog.server is None)
    assert state(sink).cursor == 0 and state(sink).last_error == "connection lost"

    syslog.start()
    deliver_until(lambda: first_arrivals(syslog.sequences()) == trail())
    # The three it had read came again, with the same sequence numbers; nothing was lost.
    assert repeated(syslog.sequences()) == [1, 2, 3]
    assert syslog.sequences() == [1, 2, 3, *trail()]


def test_a_lost_acknowledgement_brings_the_same_records_with_the_same_numbers(collector):
    collector.drop = 1  # reads the batch, then hangs up without answering
    write(3)
    sink = add_sink("https_json", collector.url)
    deliver_until(lambda: state(sink).cursor == trail()[-1])
    assert len(collector.batches) == 2
    assert collector.bodies[0] == collector.bodies[1]  # the same records, byte for byte
    assert state(sink).cursor == trail()[-1]


# --- the worker's side ------------------------------------------------------------------------


def test_a_worker_that_dies_between_sending_and_saving_the_cursor_sends_the_batch_again(
    collector, settings
):
    # However slow this host, the worker is still waiting for the answer when it dies.
    settings.AUDIT_SINK_TIMEOUT_SECONDS = 120
    main = threading.main_thread().ident
    worker_died = threading.Event()

    def crash(batch):
        # The receiver has the batch; the worker dies before it hears the answer, which is
        # held back until the worker has died.
        collector.on_batch = None
        signal.pthread_kill(main, signal.SIGINT)
        worker_died.wait(timeout=120)

    collector.on_batch = crash
    write(3)
    sink = add_sink("https_json", collector.url)
    try:
        run_worker()
    finally:
        worker_died.set()
    [died] = DBTaskResult.objects.filter(task_path=DELIVERY_TASK, status="FAILED")
    assert died.exception_class_path == "builtins.KeyboardInterrupt"
    assert len(collector.batches) == 1 and state(sink).cursor == 0
    assert ready_deliveries() == 0  # nothing queued: the dead worker cannot queue

    # The heartbeat's safety net sees records waiting and nothing queued.
    call_command("audit_heartbeat", "--count", "1", "--every", "0")
    deliver_until(lambda: len(collector.batches) == 2)
    assert collector.bodies[1] == collector.bodies[0]
    assert collector.sequences() == trail() * 2
    assert state(sink).cursor == trail()[-1]


def test_a_batch_is_durable_before_it_leaves(collector):
    """A `requested` record is readable before its commit reaches the disk: the delivery
    commits a write of its own (waiting for the disk, and so flushing everything committed
    before it) between reading the batch and sending it."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    # This thread's connection itself (`connection` would be the receiver thread's there).
    connection = connections["default"]
    write(1)
    record("console.requested", detail="not waiting for the disk", durable=False)
    sink = add_sink("https_json", collector.url)
    sent_after = []
    collector.on_batch = lambda batch: sent_after.append(len(queries.captured_queries))
    with CaptureQueriesContext(connection) as queries:
        tasks.deliver(sink.pk)
    assert collector.sequences() == trail()
    [sent] = sent_after
    statements = [q["sql"] for q in queries.captured_queries[:sent]]
    read = max(i for i, sql in enumerate(statements) if 'FROM "federation_auditevent"' in sql)
    writes = [i for i, sql in enumerate(statements) if sql.startswith('UPDATE "audit_auditsink"')]
    assert writes and writes[-1] > read
    assert "synchronous_commit" not in " ".join(statements[read:])


def test_one_delivery_at_a_time_per_sink_whatever_the_number_of_workers(collector):
    sink = add_sink("https_json", collector.url)

    @in_thread_with_database
    def second_worker(batch):
        collector.on_batch = None
        write(3)  # records committed while the first batch is on its way
        tasks.deliver(sink.pk)  # a second worker tries the same sink meanwhile
        assert len(collector.batches) == 1  # and sends nothing: the first holds the lease

    collector.on_batch = second_worker
    write(2)
    deliver_until(lambda: collector.sequences() == trail())
    assert [len(batch) for batch in collector.batches] == [3, 3]


def test_a_lease_left_by_a_dead_worker_holds_its_sink_until_it_runs_out(collector):
    sink = add_sink("https_json", collector.url)
    later = timezone.now() + timezone.timedelta(seconds=60)
    AuditSink.rows.filter(pk=sink.pk).update(lease_token="dead", leased_until=later)
    write(2)
    run_worker()
    assert collector.records == []
    assert tasks.ensure_deliveries() == 0  # a live lease: somebody is sending

    AuditSink.rows.filter(pk=sink.pk).update(leased_until=timezone.now())
    assert tasks.ensure_deliveries() == 1
    deliver_until(lambda: collector.sequences() == trail())


def test_the_heartbeat_queues_a_delivery_for_a_sink_nobody_kicked(collector):
    write(2)
    # A sink whose first kick was lost (made outside the portal's services).
    sink = AuditSink.rows.create(name="quiet", kind="https_json", destination=collector.url)
    run_worker()
    assert collector.records == []
    call_command("audit_heartbeat", "--count", "1", "--every", "0")
    deliver_until(lambda: collector.sequences() == trail())
    assert state(sink).cursor == 2


def test_a_switched_off_sink_gets_nothing_and_catches_up_when_switched_on(collector):
    sink = add_sink("https_json", collector.url)
    AuditSink.rows.filter(pk=sink.pk).update(active=False)
    write(2)
    run_worker()
    call_command("audit_heartbeat", "--count", "1", "--every", "0")
    run_worker()
    assert collector.records == []
    sink = state(sink)
    sink.active = True
    sinks.save_sink(sink=sink, token="", actor=None, meta=RequestMeta(), changed=["active"])
    deliver_until(lambda: collector.sequences() == trail())
    assert collector.records[-1]["action"] == "sink.changed"


def test_what_a_sink_receives_is_what_the_formats_say(world):
    write(1, world.tenant_a)
    events = AuditEvent.objects.unscoped("test").select_related("tenant")
    event = events.get(action="console.issued")
    lines = streaming.ndjson_body([event, event]).decode().splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]
    frames = streaming.syslog_frames([event])
    length, message = frames.split(b" ", 1)
    assert int(length) == len(message)


def test_a_syslog_receiver_that_never_confirms_gets_the_batch_again(syslog, certificate):
    syslog.confirm = False  # reads everything, then hangs up without its close_notify
    write(2)
    sink = add_sink("syslog_tls", syslog.destination, ca=certificate[0])
    run_worker()
    assert state(sink).last_error == "connection closed before the receiver confirmed"
    assert state(sink).cursor == 0

    syslog.confirm = True
    deliver_until(lambda: state(sink).cursor == trail()[-1])
    assert syslog.sequences() == trail() * 2  # at least once: the same records again


# --- the token ----------------------------------------------------------------------------


def everything_stored():
    return "\n".join(
        str(row) for model in apps.get_models() for row in model._default_manager.values()
    )


def test_the_sink_token_never_reaches_the_database_the_logs_the_admin_or_the_trail(
    client, collector, caplog
):
    token = "hec-PLANTED-0b5e7c19d2"
    operator = UserFactory(username="root-op", is_staff=True, is_superuser=True)
    client.force_login(operator)
    collector.statuses = [503, 200]  # a failure first: its log line and its reason
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            "/admin/audit/auditsink/add/",
            {
                "name": "Company Splunk",
                "kind": "splunk_hec",
                "destination": collector.url,
                "token": token,
                "ca_certificate": "",
                "active": "on",
                "start": "first",
            },
        )
        assert response.status_code == 302, response.content.decode()
        write(2)
        deliver_until(lambda: collector.sequences() == trail())
        sink = AuditSink.rows.get()
        pages = [
            client.get("/admin/audit/auditsink/"),
            client.get(f"/admin/audit/auditsink/{sink.pk}/change/"),
            client.get(f"/admin/audit/auditsink/{sink.pk}/history/"),
            client.get("/audit/"),
            client.get("/audit/export.csv"),
        ]
    # It reaches the SIEM, as it must, and opens from its seal.
    assert collector.headers[-1][1]["Authorization"] == f"Splunk {token}"
    assert sink.token() == token and token not in sink.sealed_token
    assert "503" in "".join(str(r.__dict__) for r in caplog.records)
    logged = "\n".join(str(r.__dict__) for r in caplog.records)
    shown = "\n".join(
        b"".join(p.streaming_content).decode() if p.streaming else p.content.decode() for p in pages
    )
    assert [where for where, text in [("logs", logged), ("pages", shown)] if token in text] == []
    assert token not in everything_stored()
    assert token not in " ".join(r["detail"] for r in collector.records)
