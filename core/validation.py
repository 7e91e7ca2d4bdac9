"""Turning validation errors into one line a person (or a script) can act on."""

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
