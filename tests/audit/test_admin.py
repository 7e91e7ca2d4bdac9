from datetime import UTC, datetime

import pytest

from audit.admin import CappedPaginator
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    user = UserFactory(username="root-op", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_it_shows_the_audit_trail_read_only(client, world, bob_grant, operator):
    event = AuditEvent.objects.get(action="mapping.granted")
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    assert b"mapping.granted" in listing.content
    assert b"Add audit event" not in listing.content
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert (
        client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert (
        client.post(
            f"/admin/audit/auditevent/{event.pk}/change/", {"action": "console.issued"}
        ).status_code
        == 403
    )
    event.refresh_from_db()
    assert event.action == "mapping.granted"


def test_it_refuses_to_change_or_delete_audit_records_in_code(world, bob_grant):
    event = AuditEvent.objects.get(action="mapping.granted")
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()


def test_the_audit_list_stays_cheap_at_any_size(client, world, operator, monkeypatch):
    for day in range(10, 14):
        AuditEvent.objects.create(
            tenant=world.tenant_a,
            action="console.issued",
            created_at=datetime(2026, 3, day, 12, tzinfo=UTC),
        )
    monkeypatch.setattr(CappedPaginator, "CAP", 2)
    page = client.get("/admin/audit/auditevent/").content.decode()
    # Counted up to the cap (plus one, to know there are more), not over the whole table.
    assert "3 audit events" in page
    # The date hierarchy offers each day of the month.
    page = client.get(
        "/admin/audit/auditevent/", {"created_at__year": 2026, "created_at__month": 3}
    ).content.decode()
    for day in range(10, 14):
        assert f"created_at__day={day}&amp;created_at__month=3" in page
    drill = client.get(
        "/admin/audit/auditevent/",
        {"created_at__year": 2026, "created_at__month": 3, "created_at__day": 11},
    )
    assert drill.status_code == 200
    assert "1 audit event" in drill.content.decode()


def test_links_to_the_trail_s_old_admin_address_still_arrive(client, operator):
    response = client.get("/admin/federation/auditevent/?action__exact=console.issued")
    assert response.status_code == 302
    assert response["Location"] == "/admin/audit/auditevent/?action__exact=console.issued"


def test_admin_lists_give_times_in_the_viewers_zone_with_utc_on_hover(client, world, operator):
    AuditEvent.objects.create(
        tenant=world.tenant_a,
        action="login.failed",
        actor_username="bob",
        created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    )
    client.cookies["portcullis_tz"] = "Asia/Tokyo"
    listing = client.get("/admin/audit/auditevent/").content.decode()
    assert 'title="2026-01-15 12:00:00 UTC">2026-01-15 21:00 JST</time>' in listing
