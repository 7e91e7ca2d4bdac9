from datetime import timedelta

from django import template

from access.services import describe_window

register = template.Library()


@register.filter
def window(seconds):
    """3600 → "1 hour", 5400 → "1 h 30 min": a window's length as people say it."""
    return describe_window(int(seconds))


@register.filter
def ago(moment, now=None):
    """ "just now", "5 minutes ago", "2 hours ago"."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if (now or timezone.now()) - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now)} ago"
