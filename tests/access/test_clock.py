"""Who hears what, and what time does: e-mails through a real SMTP server and the real
worker; escalation, expiry, the ten-minute reminder and window ends by the clock."""

from datetime import UTC, timedelta
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from access.services import clock
from audit.models import AuditEvent
from federation.models import RoleMapping
from tests.access.conftest import client_for, decide, file, run_worker, state_of

# Transactional: notifications leave when the change commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _portal_url(settings):
    settings.PORTAL_ISSUER_URL = "https://portal.example.com/"


def delivered(inbox):
    run_worker()
    got = [
        (message["To"], str(make_header(decode_header(message["Subject"]))), message.get_payload())
        for message in inbox
    ]
    inbox.clear()
    return got


def test_approvers_hear_of_a_request_and_bob_of_the_decision(world, on_request, dave, inbox):
    access = file(world, on_request, ticket="CHG-77")
    ((to, subject, body),) = delivered(inbox)
    assert to == "dave@example.com"
    assert subject == "Access request from bob for Acme admin (on request)"
    assert "Reason: Rotate the prod database keys" in body and "Ticket: CHG-77" in body
    assert "https://portal.example.com/approvals/" in body
    decide(client_for(dave), access, comment="ok for today")
    ((to, subject, body),) = delivered(inbox)
    assert to == "bob@example.com"
    assert subject == "Access approved: Acme admin (on request)"
    assert "open until" in body


def test_mail_gives_times_in_the_readers_own_time_zone_with_utc_beside(
    world, on_request, dave, inbox
):
    world.bob.time_zone = "America/New_York"
    world.bob.save(update_fields=["time_zone"])
    access = file(world, on_request, seconds=1800)
    delivered(inbox)
    decide(client_for(dave), access)
    access.refresh_from_db()
    local = timezone.localtime(access.ends_at, ZoneInfo("America/New_York"))
    utc = access.ends_at.astimezone(UTC)
    ((to, _, body),) = delivered(inbox)
    assert to == "bob@example.com"
    assert f"open until {local:%H:%M} {local.tzname()} ({utc:%H:%M} UTC)" in body
    with time_machine.travel(access.ends_at - timedelta(minutes=9)):
        assert clock.tick().reminded == 1
    ((_, subject, _),) = delivered(inbox)
    assert subject.startswith(f"Access ends at {local:%H:%M} {local.tzname()} ({utc:%H:%M} UTC)")


def test_a_denial_tells_bob_with_the_comment(world, on_request, dave, inbox):
    access = file(world, on_request)
    delivered(inbox)
    decide(client_for(dave), access, "deny", "use the read-only role")
    ((to, subject, body),) = delivered(inbox)
    assert to == "bob@example.com" and subject.startswith("Access denied")
    assert "use the read-only role" in body


def test_break_glass_alerts_the_approvers_and_the_tenant_admins_at_once(
    world, on_request, dave, inbox
):
    file(world, on_request, break_glass=True)
    mails = delivered(inbox)
    assert sorted(to for to, _, _ in mails) == ["alice@example.com", "dave@example.com"]
    assert all(subject.startswith("Break-glass access opened") for _, subject, _ in mails)


def test_a_request_nobody_answers_goes_to_the_tenant_admins(world, on_request, dave, inbox):
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(escalate_after_seconds=600)
    access = file(world, on_request)
    delivered(inbox)
    with time_machine.travel(timezone.now() + timedelta(seconds=590)):
        assert clock.tick().escalated == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=610)):
        assert clock.tick().escalated == 1
        assert clock.tick().escalated == 0  # once
    ((to, subject, _),) = delivered(inbox)
    assert (
        to == "alice@example.com"
        and subject == "Still waiting: request from bob for Acme admin (on request)"
    )
    assert AuditEvent.objects.filter(action="request.escalated").count() == 1
    assert state_of(access) == "pending"


def test_a_request_past_its_deadline_expires_and_bob_is_told(
    world, on_request, dave, inbox, settings
):
    settings.ACCESS_REQUEST_TTL = 3600
    RoleMapping.objects.unscoped("test").filter(pk=on_request.pk).update(escalate_after_seconds=0)
    access = file(world, on_request)
    delivered(inbox)
    with time_machine.travel(timezone.now() + timedelta(seconds=3601)):
        done = clock.tick()
    assert (done.expired, done.escalated) == (1, 0)
    assert state_of(access) == "expired"
    ((to, subject, _),) = delivered(inbox)
    assert to == "bob@example.com" and subject.startswith("Request expired")


def test_bob_hears_ten_minutes_before_his_window_ends_once(world, on_request, dave, inbox):
    access = file(world, on_request, seconds=1800)
    decide(client_for(dave), access)
    access.refresh_from_db()
    delivered(inbox)
    with time_machine.travel(access.ends_at - timedelta(minutes=11)):
        assert clock.tick().reminded == 0
    with time_machine.travel(access.ends_at - timedelta(minutes=9)):
        assert clock.tick().reminded == 1
        assert clock.tick().reminded == 0
    ((to, subject, _),) = delivered(inbox)
    assert to == "bob@example.com"
    assert subject == f"Access ends at {access.ends_at:%H:%M} UTC: Acme admin (on request)"
    with time_machine.travel(access.ends_at + timedelta(seconds=1)):
        call_command("access_clock", "--once")
    assert state_of(access) == "ended"
