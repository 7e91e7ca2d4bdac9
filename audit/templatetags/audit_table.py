"""The audit page's table rows, written in Python: fifty rows of six cells each through the
template language cost more than everything else on the page together."""

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.templatetags.units import duration, when

register = template.Library()

_DASH = "–"


def _who(event):
    if event.tenant is None:
        return format_html("{}", event.actor_username or _DASH)
    return format_html(
        '{}<br><span class="muted">{}</span>', event.actor_username or _DASH, event.tenant.slug
    )


def _action(event):
    if not event.duration_seconds:
        return format_html('<span class="badge">{}</span>', event.action)
    return format_html(
        '<span class="badge">{}</span><br><span class="muted">{}</span>',
        event.action,
        duration(event.duration_seconds),
    )


def _role(event):
    if not event.role_arn:
        return _DASH
    role = format_html('<span class="mono" title="{}">{}</span>', event.role_arn, event.role_name)
    if event.account_name:
        return format_html(
            '{}<br><span class="muted" title="AWS account {}">{}</span>',
            role,
            event.role_account,
            event.account_name,
        )
    if event.role_account:
        return format_html('{}<br><span class="muted mono">{}</span>', role, event.role_account)
    return role


def _session(event):
    if not event.source_identity:
        return format_html("{}", event.role_session_name or _DASH)
    return format_html("{} / {}", event.role_session_name or _DASH, event.source_identity)


def _detail(event):
    if not event.error_code:
        return format_html("{}", event.detail)
    return format_html("<strong>{}</strong> {}", event.error_code, event.detail)


@register.simple_tag
def audit_rows(events):
    """{% audit_rows events %}: one <tr> a record, newest first as given."""
    return format_html_join(
        "\n",
        '<tr class="outcome-{}"><td class="mono"><a href="{}" title="Every field of this '
        'record">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class="mono">{}</td>'
        "<td>{}</td></tr>",
        (
            (
                event.outcome,
                reverse("audit-record", args=[event.pk]),
                when(event.created_at, "seconds"),
                _who(event),
                _action(event),
                _role(event),
                _session(event),
                _detail(event),
            )
            for event in events
        ),
    )
