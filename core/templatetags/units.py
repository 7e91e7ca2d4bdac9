from django import template

from core import humanize

register = template.Library()


@register.filter
def duration(seconds):
    """{{ 43200|duration }} → "12 hours"."""
    if seconds in (None, ""):
        return ""
    return humanize.duration(int(seconds))
