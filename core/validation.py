"""Turning validation errors into one line a person (or a script) can act on, and the
validators several apps share."""

import functools
import zoneinfo

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


def validate_time_zone(name: str) -> None:
    """An IANA time zone name such as Europe/Berlin (or UTC)."""
    if name not in known_time_zones():
        raise ValidationError(
            f"{name!r} is not a time zone: use an IANA name such as Europe/Berlin, or UTC."
        )
