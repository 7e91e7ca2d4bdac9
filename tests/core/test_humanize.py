"""Durations as people read them."""

import pytest

from core.humanize import duration


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (90, "1 minute 30 seconds"),
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


def test_the_roles_page_and_the_result_say_hours_not_seconds(client, world, bob_grant, sandbox):
    client.force_login(world.bob)

    page = client.get("/").content.decode()
    assert "up to 12 hours" in page and "43200 seconds" not in page
    # The choices too: a limit between the presets reads in hours and minutes.
    result = client.post(f"/console/{bob_grant.pk}/", {"duration": "5400"})
    assert b"Session is valid for 1 hour 30 minutes" in result.content
