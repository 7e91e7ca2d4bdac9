from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def ago(moment, now=None):
    """ "just now", "5 minutes ago", "2 hours ago"."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if (now or timezone.now()) - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now)} ago"
