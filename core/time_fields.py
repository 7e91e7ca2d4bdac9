"""Dates and times picked on a tenant's clock, in the admin's forms: a date and a time (or
a date alone, meaning the end of that day) read in the tenant's time zone, which the form
states beside the field."""

from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

# A date alone means until the last second of that day (on the tenant's clock).
END_OF_DAY = time(23, 59, 59)


class TenantTimeField(forms.SplitDateTimeField):
    """A date and a time in the grant's tenant's time zone (`zone`, which the form sets and
    states beside the field), not in the zone the admin's own pages show."""

    zone: ZoneInfo | None = None

    def compress(self, data_list: Any) -> Any:
        with timezone.override(self.zone or UTC):
            return super().compress(data_list)

    def prepare_value(self, value: Any) -> Any:
        # The saved moment, shown on the tenant's clock (the widget leaves naive ones be).
        if isinstance(value, datetime) and timezone.is_aware(value):
            return timezone.make_naive(value, self.zone or UTC)
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        return super().has_changed(self.prepare_value(initial), data)


class DateOrDateTimeField(TenantTimeField):
    """A date and a time, or a date alone: the end of that day (23:59:59)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, require_all_fields=False, **kwargs)
        self.fields[1].required = False

    def compress(self, data_list: Any) -> Any:
        if data_list and data_list[0] and not data_list[1]:
            data_list = [data_list[0], END_OF_DAY]
        return super().compress(data_list)


def state_time_zone(field: TenantTimeField, tenants: Iterable[Any]) -> None:
    """Say on the form which clock its times are on: the tenant's."""
    zones = sorted({tenant.time_zone for tenant in tenants})
    if len(zones) == 1:
        field.help_text += (
            f" A date alone means until the end of the day, {zones[0]}. Times are "
            f"{zones[0]}, the tenant's time zone."
        )
    else:
        field.help_text += (
            " A date alone means until the end of that day. Times are in the tenant's time "
            "zone (each tenant sets its own)."
        )
