from django import template

from access.services import describe_window

register = template.Library()


@register.filter
def window(seconds):
    """3600 → "1 hour", 5400 → "1 h 30 min": a window's length as people say it."""
    return describe_window(int(seconds))
