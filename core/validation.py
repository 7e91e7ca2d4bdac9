"""Turning validation errors into one line a person (or a script) can act on, and the
validators several apps share."""

import functools
import importlib.resources
import zoneinfo
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def describe(error: ValidationError) -> str:
    """`slug: Tenant with this Slug already exists.; name: This field is required.`"""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    parts = []
    for field, errors in error.message_dict.items():
        text = " ".join(errors)
        parts.append(text if field == NON_FIELD_ERRORS else f"{field}: {text}")
    return "; ".join(parts)


@functools.cache
def known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def listed_time_zones() -> tuple[str, ...]:
    """The zones a list offers, sorted: UTC and each place's current name as the tz
    database's zone.tab gives it (Africa/Asmara and Asia/Kolkata, not the old spellings
    Africa/Asmera and Asia/Calcutta, nor US/Pacific). Every name in known_time_zones() stays
    valid: whoever chose an old spelling keeps it.

    zone.tab rather than "every zone that is not a link": which names are links depends on
    how the data was built (Europe/Oslo is a link to Europe/Berlin in the tzdata package and
    a zone of its own where the system's was built with backzone)."""
    known = known_time_zones()
    places = {
        line.split("\t")[2]
        for line in _zone_tab().splitlines()
        if line and not line.startswith("#") and line.count("\t") >= 2
    }
    # No zone.tab beside the zone data: offer every zone rather than none.
    return tuple(sorted(((places | {"UTC"}) & known) if places else known))


def _zone_tab() -> str:
    """zone.tab from where zoneinfo reads its zones: the system's TZPATH first, then the
    tzdata package ("" when neither has one)."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return (importlib.resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text(
            encoding="utf-8"
        )
    except (ModuleNotFoundError, FileNotFoundError):
        return ""


def validate_time_zone(name: str) -> None:
    """An IANA time zone name such as Europe/Berlin (or UTC)."""
    if name not in known_time_zones():
        raise ValidationError(
            f"{name!r} is not a time zone: use an IANA name such as Europe/Berlin, or UTC."
        )
