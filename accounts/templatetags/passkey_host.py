from django import template

from accounts import passkeys

register = template.Library()


@register.simple_tag(takes_context=True)
def passkeys_elsewhere(context):
    """{% passkeys_elsewhere as elsewhere %}: "" where this page's host can use passkeys,
    else the address where they work ("http://localhost:8000")."""
    return passkeys.elsewhere(context["request"])
