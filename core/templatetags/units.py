from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html

from core import humanize

register = template.Library()


@register.filter
def duration(seconds):
    """{{ 43200|duration }} → "12 hours"."""
    if seconds in (None, ""):
        return ""
    return humanize.duration(int(seconds))


@register.filter
def when(moment, precision="minutes"):
    """A moment in the viewer's time zone (core.middleware.TimeZoneMiddleware), with UTC
    on hover: {{ grant.valid_until|when }} → "2026-11-25 14:30 CET"; |when:"seconds" adds
    the seconds, |when:"time" shows the time of day alone."""
    if not moment:
        return ""
    local = timezone.localtime(moment)
    utc = moment.astimezone(UTC)
    shape = {"seconds": "%Y-%m-%d %H:%M:%S", "time": "%H:%M"}.get(precision, "%Y-%m-%d %H:%M")
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat(),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime(shape),
        local.tzname() or "",
    )


@register.filter
def relative(moment, now=None):
    """{{ access.ends_at|relative }} → "in 52 minutes", "5 minutes ago", "just now"."""
    if not moment:
        return ""
    return humanize.relative(moment, now)
