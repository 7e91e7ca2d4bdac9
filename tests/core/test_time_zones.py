"""Times in the viewer's time zone: their own setting, else their browser's, else UTC."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from core.templatetags.units import when
from federation.models import ApiToken

pytestmark = pytest.mark.django_db

NOON_UTC = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_a_moment_shows_in_the_active_zone_with_utc_on_hover():
    with timezone.override("Europe/Berlin"):
        shown = str(when(NOON_UTC))
    assert ">2026-01-15 13:00 CET</time>" in shown
    assert 'title="2026-01-15 12:00:00 UTC"' in shown
    assert 'datetime="2026-01-15T12:00:00+00:00"' in shown
    with timezone.override("Asia/Tokyo"):
        assert ">21:00 JST<" in str(when(NOON_UTC, "time"))


@pytest.fixture
def bob_token(world):
    token, _ = ApiToken.issue(user=world.bob, name="laptop", days=30)
    ApiToken.objects.unscoped("test").filter(pk=token.pk).update(created_at=NOON_UTC)
    return token


def test_pages_follow_the_browsers_zone_then_the_persons_own(client, world, bob_token):
    client.force_login(world.bob)
    assert "2026-01-15 12:00 UTC" in client.get("/tokens/").content.decode()

    client.cookies["portcullis_tz"] = "Asia/Tokyo"
    assert "2026-01-15 21:00 JST" in client.get("/tokens/").content.decode()

    saved = client.post("/account/", {"time_zone": "Europe/Berlin"})
    assert saved.status_code == 302
    world.bob.refresh_from_db()
    assert world.bob.time_zone == "Europe/Berlin"
    assert "2026-01-15 13:00 CET" in client.get("/tokens/").content.decode()


def test_an_unknown_zone_is_refused_or_ignored(client, world, bob_token):
    client.force_login(world.bob)
    client.cookies["portcullis_tz"] = "Mars/Olympus_Mons"
    assert "2026-01-15 12:00 UTC" in client.get("/tokens/").content.decode()

    refused = client.post("/account/", {"time_zone": "Mars/Olympus_Mons"}, follow=True)
    assert "Choose a time zone from the list" in refused.content.decode()
    world.bob.refresh_from_db()
    assert world.bob.time_zone == ""
