"""AWS accounts as people know them: the tenant's name for the account beside its id."""

from django import template
from django.utils.html import format_html

from federation.models import account_names

register = template.Library()


@register.simple_tag(takes_context=True)
def account(context, grant):
    """{% account grant %} → "Payments 111111111111": the name from the tenant's account
    directory (else the grant's alias), then the id. One lookup a page."""
    request = context["request"]
    names = getattr(request, "_account_names", None)
    if names is None:
        names = request._account_names = account_names(request.user)
    account_id = grant.role.account_id
    name = grant.account_name_in(names)
    if not name:
        return format_html('<span class="mono">{}</span>', account_id)
    return format_html('{} <span class="mono muted">{}</span>', name, account_id)
