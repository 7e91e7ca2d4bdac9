"""The audit trail for tenant admins and operators: `/audit/` and its CSV export.

Both read through `AuditEvent.objects.for_user(user, action="manage")`, the same filter, and
the same newest-first order. Pages use keyset pagination: the link to older records
carries the (time, id) of the last row shown, so a deep page costs what the first does and
nothing counts the whole table.
"""

import csv
import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import CharField, F, Func, Q
from django.forms.utils import flatatt
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from audit.records import RequestMeta, record
from core import humanize
from core.hooks import Hook
from core.views import error_page


def _nobody_answers(user: Any) -> Any:
    raise LookupError("the accounts app answers which tenants a person runs")


# Asked of the apps above this one (they answer when they are ready): the tenants a person
# runs (accounts), the roles the filter offers and the accounts' names (federation).
managed_tenants: Hook[[Any], Any] = Hook(
    "the tenants a person runs, as a queryset", unanswered=_nobody_answers
)
role_suggestions: Hook[[Any], list[str]] = Hook(
    "the role ARNs the audit filter offers a person", unanswered=lambda user: []
)
account_names: Hook[[Any], dict[tuple[int, str], str]] = Hook(
    "{(tenant id, account id): name} of the AWS accounts a person may see",
    unanswered=lambda user: {},
)


def _name_accounts(request, events):
    """Give each record the tenant's name for the account of its role, where it has one."""
    names = account_names(request.user)
    for event in events:
        event.account_name = names.get((event.tenant_id, event.role_account), "")
    return events


PAGE_SIZE = 50
ACTIONS = [value for value, _ in AuditEvent.Action.choices]
OUTCOMES = sorted({AuditEvent.outcome_of(action) for action in ACTIONS})


# (title, the field it shows, how to write it). The export reads plain values, not model
# instances: a million records stream in a fraction of the time.
CSV_COLUMNS = [
    ("time (UTC)", "created_at", humanize.utc_stamp),
    ("tenant", "tenant__slug", str),
    ("actor", "actor_username", str),
    ("action", "action", str),
    ("outcome", "action", AuditEvent.outcome_of),
    ("role ARN", "role_arn", str),
    ("RoleSessionName", "role_session_name", str),
    ("SourceIdentity", "source_identity", str),
    ("assumed-role ARN", "assumed_role_arn", str),
    ("duration (s)", "duration_seconds", str),
    ("client IP", "client_ip", str),
    ("user agent", "user_agent", str),
    ("portal request ID", "request_id", str),
    ("AWS request ID", "aws_request_id", str),
    ("error code", "error_code", str),
    ("detail", "detail", str),
]
CSV_FIELDS = list(dict.fromkeys(field for _, field, _ in CSV_COLUMNS))
# Each column as (where its field is in a CSV_FIELDS row, how to write it).
_CSV_CELLS = [(CSV_FIELDS.index(field), write) for _, field, write in CSV_COLUMNS]
CSV_BATCH_ROWS = 500
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def may_review(user):
    return user.is_active and (user.is_superuser or user.is_tenant_admin)


class PlainSelect(forms.Select):
    """A <select> written in Python: Django renders each option through a template of its
    own, and the list of actions is long and on every page of the trail."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = "" if value is None else str(value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (choice, " selected" if str(choice) == chosen else "", label)
                for choice, label in self.choices
            ),
        )
        return format_html(
            '<select name="{}"{}>{}</select>',
            name,
            flatatt(self.build_attrs(self.attrs, attrs)),
            options,
        )


class AuditFilterForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=None, required=False)
    user = forms.CharField(label="Person", max_length=150, required=False)
    role = forms.CharField(label="Role ARN", max_length=2048, required=False)
    action = forms.ChoiceField(
        choices=[("", "any")] + [(a, a) for a in ACTIONS], required=False, widget=PlainSelect
    )
    outcome = forms.ChoiceField(
        choices=[("", "any")] + [(o, o) for o in OUTCOMES], required=False, widget=PlainSelect
    )
    since = forms.DateField(label="From", required=False, widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput({"type": "date"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = managed_tenants(user)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        for name, day in (("since", since), ("until", until)):
            if day and day.year < 1970:  # the trail starts later; nor can every zone go back
                self.add_error(name, "Choose a date from 1970 on.")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filter(self, events):
        data = self.cleaned_data
        if data.get("tenant"):
            events = events.filter(tenant=data["tenant"])
        if data.get("user"):
            # Usernames are case-insensitive: match the stored spelling, so the index works.
            person = get_user_model().objects.filter(username__iexact=data["user"]).first()
            events = events.filter(actor_username=person.username if person else data["user"])
        if data.get("role"):
            events = events.filter(role_arn=data["role"].strip())
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("outcome"):
            events = events.filter(
                action__in=[a for a in ACTIONS if a.endswith(f".{data['outcome']}")]
            )
        if data.get("since"):
            events = events.filter(created_at__gte=_midnight(data["since"]))
        if data.get("until") and data["until"] < date.max:  # the last day: no end at all
            events = events.filter(created_at__lt=_midnight(data["until"] + timedelta(days=1)))
        return events


def _midnight(day):
    """The start of `day` in the viewer's time zone: the days the page shows times in."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _cursor(event):
    return f"{event.created_at.astimezone(UTC).isoformat()}_{event.pk}"


# The largest id a 64-bit column holds.
MAX_ID = 2**63 - 1


def _parse_cursor(value):
    """(time in UTC, id) from an `after` link, or None for one the portal never wrote."""
    moment, _, pk = value.rpartition("_")
    try:
        moment = datetime.fromisoformat(moment)
        pk = int(pk)
        if moment.tzinfo is None or not 0 < pk <= MAX_ID:
            return None
        return moment.astimezone(UTC), pk
    except (ValueError, OverflowError):
        return None


def _older_than(events, cursor):
    moment, pk = cursor
    # The plain `created_at <= moment` lets the database walk the index from that point.
    return events.filter(created_at__lte=moment).filter(
        Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk)
    )


def _filtered(request):
    form = AuditFilterForm(request.GET or None, user=request.user)
    events = AuditEvent.objects.for_user(request.user, action="manage").order_by(
        "-created_at", "-id"
    )
    if form.is_bound and form.is_valid():
        events = form.filter(events)
    elif form.is_bound:
        events = events.none()
    return form, events


def reviewers_only(view):
    """Tenant admins and operators; anyone else signed in gets a 403 page."""

    @functools.wraps(view)
    @require_GET
    @login_required
    def wrapper(request, *args, **kwargs):
        if not may_review(request.user):
            return error_page(
                request, "The audit trail is for tenant admins.", 403, title="Not for you"
            )
        return view(request, *args, **kwargs)

    return wrapper


@reviewers_only
@never_cache
def audit_list(request):
    """Newest first, PAGE_SIZE at a time, with a link to the next older page."""
    form, events = _filtered(request)
    cursor = _parse_cursor(request.GET.get("after", ""))
    if request.GET.get("after") and cursor is None:
        return error_page(request, "That page link is not valid.", 400, title="Check the link")
    if cursor:
        events = _older_than(events, cursor)
    rows = list(events.select_related("tenant")[: PAGE_SIZE + 1])
    older = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        query = request.GET.copy()
        query["after"] = _cursor(rows[-1])
        older = query.urlencode()
    query = request.GET.copy()
    query.pop("after", None)
    roles = role_suggestions(request.user)
    return render(
        request,
        "audit/audit.html",
        {
            "form": form,
            "events": _name_accounts(request, rows),
            "older": older,
            "newest": query.urlencode() if cursor else None,
            "export": query.urlencode(),
            "roles": roles,
        },
    )


def _spreadsheet_safe(value):
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _csv_cells(values):
    """One record's cells, from its CSV_FIELDS values: empty for none, formulas defused."""
    return [
        "" if values[index] is None else _spreadsheet_safe(write(values[index]))
        for index, write in _CSV_CELLS
    ]


class _Echo:
    def write(self, value):
        return value


# What a record's own page shows, in order: (label, field).
RECORD_FIELDS = [
    ("Tenant", "tenant"),
    ("Who", "actor_username"),
    ("Action", "action"),
    ("Outcome", "outcome"),
    ("Role ARN", "role_arn"),
    ("AWS account", "account_name"),
    ("RoleSessionName", "role_session_name"),
    ("SourceIdentity", "source_identity"),
    ("Assumed-role ARN", "assumed_role_arn"),
    ("Client IP", "client_ip"),
    ("User agent", "user_agent"),
    ("Portal request ID", "request_id"),
    ("AWS request ID", "aws_request_id"),
    ("Error code", "error_code"),
    ("Detail", "detail"),
    ("Sequence in the trail", "sequence"),
]


@reviewers_only
@never_cache
def audit_record(request, event_id):
    """One record, every field: what the table leaves out (addresses, request IDs...)."""
    event = get_object_or_404(
        AuditEvent.objects.for_user(request.user, action="manage").select_related("tenant"),
        pk=event_id,
    )
    _name_accounts(request, [event])
    facts = [(label, getattr(event, field)) for label, field in RECORD_FIELDS]
    return render(
        request,
        "audit/record.html",
        {
            "event": event,
            "facts": [(label, value) for label, value in facts if value not in ("", None)],
        },
    )


def _written_rows(events, header):
    """The export, written row by row in Python (SQLite)."""
    writer = csv.writer(_Echo())
    batch = [header]
    for values in events.values_list(*CSV_FIELDS).iterator(chunk_size=2000):
        batch.append(writer.writerow(_csv_cells(values)))
        if len(batch) == CSV_BATCH_ROWS:
            yield "".join(batch)
            batch = []
    yield "".join(batch)


# A CSV_COLUMNS cell as PostgreSQL writes it: the text `_csv_cells` writes, a formula
# defused, and nothing (NULL, an empty cell) for an empty value.
UTC_TIME_SQL = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
OUTCOME_SQL = "regexp_replace(%(expressions)s, '^.*[.]', '')"
DEFUSED_SQL = (
    "NULLIF(CASE WHEN %(expressions)s ~ '^[-=+@\\t\\r\\n]' THEN '''' || %(expressions)s "
    "ELSE %(expressions)s END, '')"
)


def _sql_cell(field, write):
    if write is humanize.utc_stamp:
        text = Func(F(field), template=UTC_TIME_SQL)
    elif write is AuditEvent.outcome_of:
        text = Func(F(field), template=OUTCOME_SQL)
    elif field == "client_ip":
        text = Func(F(field), template="host(%(expressions)s)")
    else:
        text = Func(F(field), template="(%(expressions)s)::text")
    return Func(text, template=DEFUSED_SQL, output_field=CharField())


def _copied_rows(events, header):
    """The export as PostgreSQL's COPY writes it, streamed in blocks: the same rows as
    `_written_rows`, several times faster, in flat memory."""
    cells = {f"cell{n}": _sql_cell(field, write) for n, (_, field, write) in enumerate(CSV_COLUMNS)}
    sql, params = events.annotate(**cells).values_list(*cells).query.sql_with_params()
    yield header.encode()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
    ):
        for block in copy:
            yield bytes(block)


@reviewers_only
def audit_csv(request):
    """The same filter as the page, every matching record, streamed row by row."""
    form, events = _filtered(request)
    if form.is_bound and not form.is_valid():
        return error_page(request, "Check the filter: " + form.errors.as_text(), 400)
    tenant = form.cleaned_data.get("tenant") if form.is_bound else None
    if tenant is None:
        managed = list(managed_tenants(request.user)[:2])
        tenant = managed[0] if len(managed) == 1 else None
    record(
        AuditEvent.Action.AUDIT_EXPORTED,
        actor=request.user,
        tenant=tenant,
        meta=RequestMeta.from_request(request),
        detail=f"CSV export, filter: {request.GET.urlencode() or 'none'}"[:500],
    )
    header = csv.writer(_Echo()).writerow([title for title, _, _ in CSV_COLUMNS])
    copied = connection.vendor == "postgresql"
    rows = _copied_rows(events, header) if copied else _written_rows(events, header)
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="portcullis-audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
