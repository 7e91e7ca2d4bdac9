"""The background worker seen from outside: its heartbeat and queue in /readyz and
/metrics, what the clock keeps going, and the access requests it counts."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from access import worker
from access.models import AccessRequest
from access.services import clock
from tests.access.conftest import client_for, decide, file, run_worker
from tests.conftest import METRICS_TOKEN, value

# Transactional: the worker runs tasks in transactions of its own and closes its connection,
# as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def scraper_token(settings):
    """/readyz gives its details to a caller that may read /metrics."""
    settings.METRICS_TOKEN = METRICS_TOKEN


def readiness(client):
    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    return response.status_code, response.content.decode()


def test_readiness_reports_the_workers_heartbeat(client):
    status, report = readiness(client)
    assert status == 200
    assert "database: ok\n" in report
    assert "worker: no heartbeat yet" in report

    assert clock.tick().heartbeats == 1
    assert clock.tick().heartbeats == 0  # one waits already
    run_worker()
    status, report = readiness(client)
    assert status == 200 and "worker: alive, last heartbeat 0 s ago" in report

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        status, report = readiness(client)
    # Reported, not a reason to take the portal out of service.
    assert status == 200 and "worker: silent, last heartbeat 300 s ago" in report


def test_a_queue_nobody_works_through_makes_the_portal_not_ready(client, settings):
    clock.tick()  # a heartbeat waits, and no worker runs
    status, report = readiness(client)
    assert status == 200 and "queue: ok, 1 waiting" in report

    later = timezone.now() + timedelta(seconds=settings.QUEUE_STUCK_SECONDS + 60)
    with time_machine.travel(later):
        status, report = readiness(client)
    assert status == 503
    assert f"queue: stuck, 1 waiting, the oldest for {settings.QUEUE_STUCK_SECONDS + 60} s" in (
        report
    )
    run_worker()
    with time_machine.travel(later):
        assert readiness(client)[0] == 200


def test_the_clock_deletes_old_task_results_only(settings):
    clock.tick()
    run_worker()
    assert DBTaskResult.objects.count() == 1
    with time_machine.travel(timezone.now() + timedelta(days=settings.TASK_RESULTS_KEEP_DAYS - 1)):
        assert clock.tick().task_results_pruned == 0
    with time_machine.travel(timezone.now() + timedelta(days=settings.TASK_RESULTS_KEEP_DAYS + 1)):
        done = clock.tick()
    assert done.task_results_pruned == 1
    assert list(DBTaskResult.objects.values_list("status", flat=True)) == ["READY"]


def test_the_clock_command_says_what_it_did(capsys):
    call_command("access_clock", "--once")
    assert "heartbeats=1" in capsys.readouterr().out


def test_the_worker_figures_are_read_from_the_queue():
    assert worker.figures(timezone.now()).waiting == 0
    worker.keep_heartbeat()
    found = worker.figures(timezone.now())
    assert found.waiting == 1 and found.last_beat is None


def test_requests_their_decisions_and_the_queue_are_measured(
    world, on_request, dave, scraper, inbox
):
    access = file(world, on_request)
    found = scraper()
    assert value(found, "portcullis_access_requests_open", state="pending", tenant="acme") == 1
    # The request's e-mail waits for the worker.
    assert value(found, "portcullis_task_queue_depth") >= 1
    created = {"state": "request.created", "tenant": "acme"}
    assert value(found, "portcullis_access_request_events_total", **created) >= 1

    decisions = value(found, "portcullis_access_request_decision_seconds_count")
    with time_machine.travel(access.created_at + timedelta(minutes=12)):
        decide(client_for(dave), access)
    run_worker()
    found = scraper()
    assert AccessRequest.objects.get(pk=access.pk).state == "active"
    assert value(found, "portcullis_access_requests_open", state="active", tenant="acme") == 1
    assert value(found, "portcullis_access_request_decision_seconds_count") == decisions + 1
    # Twelve minutes: counted in the 15-minute bucket, not the 5-minute one.
    le_900 = value(found, "portcullis_access_request_decision_seconds_bucket", le="900.0")
    le_300 = value(found, "portcullis_access_request_decision_seconds_bucket", le="300.0")
    assert le_900 - le_300 >= 1
    assert value(found, "portcullis_task_queue_depth") == 0


def test_a_notification_given_up_on_is_counted(world, on_request, scraper, settings, inbox):
    settings.EMAIL_PORT = 1  # nothing listens there
    settings.NOTIFICATION_RETRY_SECONDS = []
    before = value(scraper(), "portcullis_notification_failures_total")
    file(world, on_request)
    run_worker()
    assert value(scraper(), "portcullis_notification_failures_total") == before + 1
