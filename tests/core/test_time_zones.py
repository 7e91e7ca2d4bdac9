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


def test_the_zone_list_offers_current_names_and_keeps_an_old_one_chosen_before(client, world):
    client.force_login(world.bob)
    page = client.get("/account/").content.decode()
    assert "<option>Africa/Asmara</option>" in page and "<option>UTC</option>" in page
    assert "Africa/Asmera" not in page and "US/Pacific" not in page

    # Chosen before the list left old spellings out: still valid, still shown as chosen.
    world.bob.time_zone = "Africa/Asmera"
    world.bob.save(update_fields=["time_zone"])
    assert "<option selected>Africa/Asmera</option>" in client.get("/account/").content.decode()
    assert client.post("/account/", {"time_zone": "Africa/Asmera"}).status_code == 302


def test_a_page_names_the_browser_zone_it_was_drawn_in_so_a_move_redraws_it(client, world):
    client.cookies["portcullis_tz"] = "Asia/Tokyo"
    # Not a page that answers a POST: drawing it again would send the form again.
    assert "data-browser-zone" not in client.post("/login/", {}).content.decode()

    client.force_login(world.bob)
    assert '<html lang="en" data-browser-zone="Asia/Tokyo">' in client.get("/").content.decode()
    # Nor with a zone of one's own: the browser's does not count then.
    client.post("/account/", {"time_zone": "Europe/Berlin"})
    assert '<html lang="en">' in client.get("/").content.decode()
