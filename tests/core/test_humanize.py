"""Durations and moments as people read them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core.humanize import clock, duration, relative, zone_named


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (90, "1 minute"),
        (900, "15 minutes"),
        (2700, "45 minutes"),
        (3600, "1 hour"),
        (3660, "1 hour 1 minute"),
        (3601, "1 hour"),
        (5400, "1 hour 30 minutes"),
        (43200, "12 hours"),
        (86400, "24 hours"),
        (-5, "0 seconds"),
    ],
)
def test_a_duration_reads_as_people_say_it(seconds, words):
    assert duration(seconds) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(3589, "59 minutes"), (899, "14 minutes"), (7199, "1 hour 59 minutes"), (119, "1 minute")],
)
def test_what_is_left_of_a_window_reads_in_whole_minutes_never_rounded_up(seconds, words):
    assert duration(seconds) == words


def test_the_roles_page_and_the_result_say_hours_not_seconds(client, world, bob_grant, sandbox):
    client.force_login(world.bob)

    page = client.get("/").content.decode()
    assert "up to 12 hours" in page and "43200 seconds" not in page
    # The choices too: a limit between the presets reads in hours and minutes.
    result = client.post(f"/console/{bob_grant.pk}/", {"duration": "5400"})
    assert b"Session is valid for 1 hour 30 minutes" in result.content


NOON_UTC = datetime(2026, 1, 15, 12, 0, 30, tzinfo=UTC)


def test_a_moment_in_a_sentence_names_its_zone_and_utc_beside_it():
    assert clock(NOON_UTC, ZoneInfo("Europe/Berlin")) == "13:00 CET (12:00 UTC)"
    assert clock(NOON_UTC, UTC) == "12:00 UTC"
    assert clock(NOON_UTC, ZoneInfo("Asia/Tokyo"), date=True, seconds=True) == (
        "2026-01-15 21:00:30 JST (2026-01-15 12:00:30 UTC)"
    )
    with timezone.override("America/New_York"):
        assert clock(NOON_UTC) == "07:00 EST (12:00 UTC)"


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (timedelta(seconds=20), "just now"),
        # Django's words, with a no-break space between a number and its unit.
        (timedelta(minutes=52), "in 52\xa0minutes"),
        (-timedelta(hours=3), "3\xa0hours ago"),
        (timedelta(hours=1, minutes=5), "in 1\xa0hour, 5\xa0minutes"),
    ],
)
def test_a_moment_reads_relative_to_now(offset, words):
    assert relative(NOON_UTC + offset, now=NOON_UTC) == words


def test_an_unknown_or_empty_zone_name_reads_as_utc():
    assert zone_named("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert zone_named("") == ZoneInfo("UTC")
    assert zone_named("Mars/Olympus_Mons") == ZoneInfo("UTC")
