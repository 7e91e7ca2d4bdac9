"""Access requests over the JSON API (personal API tokens), for `portcullis-credentials
--request` and other tools.

`POST /api/v1/requests` files one (`{"role": <grant id>, "seconds": N, "justification":
"...", "ticket": "...", "break_glass": false}` → 201); `GET /api/v1/requests` lists mine
(`?role=<grant id>`, `?state=open`); `GET /api/v1/requests/<id>` shows one of mine.
"""

import json
from datetime import UTC, datetime

from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from access import selectors, services
from access.errors import RequestNotFound
from access.models import AccessRequest
from audit.records import RequestMeta
from core.errors import InvalidChoice
from core.views import error_response
from federation.api import token_required


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _as_json(access: AccessRequest) -> dict:
    return {
        "id": access.pk,
        "role": access.grant_id,
        "label": access.grant.label,
        "tenant": access.tenant.slug,
        "state": access.state,
        "seconds": access.seconds,
        "justification": access.justification,
        "ticket": access.ticket,
        "break_glass": access.break_glass,
        "created_at": _time(access.created_at),
        "expires_at": _time(access.expires_at) if access.state == "pending" else None,
        "activated_at": _time(access.activated_at),
        "ends_at": _time(access.ended_at or access.ends_at),
        "seconds_left": access.seconds_left(),
        "approvals_needed": access.grant.approvals_needed,
        "decisions": [
            {"by": d.approver_username, "decision": d.outcome, "comment": d.comment}
            for d in access.decisions.all()
        ],
    }


def _answer(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _file(request) -> JsonResponse:
    meta = RequestMeta.from_request(request)
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError
        grant_id = body.get("role")
        seconds = body.get("seconds", 3600)
        if not isinstance(grant_id, int) or isinstance(grant_id, bool) or not 0 < grant_id < 2**63:
            raise InvalidChoice('"role" is the id of one of your grants (GET /api/v1/roles).')
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise InvalidChoice('"seconds" is a whole number of seconds.')
        for name in ("justification", "ticket"):
            if not isinstance(body.get(name, ""), str):
                raise InvalidChoice(f'"{name}" is text.')
        access = services.file_request(
            user=request.user,
            grant_id=grant_id,
            seconds=seconds,
            justification=body.get("justification", ""),
            ticket=body.get("ticket", ""),
            break_glass=body.get("break_glass") is True,
            meta=meta,
        )
    except ValueError:
        return error_response(
            request,
            InvalidChoice("Send a JSON object: role, seconds, justification."),
            as_json=True,
        )
    return _answer(_as_json(access), status=201)


@require_http_methods(["GET", "POST"])
@token_required
def requests(request):
    if request.method == "POST":
        return _file(request)
    mine = selectors.my_requests(request.user)
    role = request.GET.get("role", "")
    if role:
        if not (role.isdigit() and len(role) < 19):
            return error_response(
                request, InvalidChoice('"role" is the id of one of your grants.'), as_json=True
            )
        mine = mine.filter(grant_id=int(role))
    if request.GET.get("state") == "open":
        mine = mine.open()
    return _answer({"requests": [_as_json(access) for access in mine[:100]]})


@require_GET
@token_required
def request_detail(request, request_id):
    access = selectors.my_requests(request.user).filter(pk=request_id).first()
    if access is None:
        return error_response(request, RequestNotFound(), as_json=True)
    return _answer(_as_json(access))
