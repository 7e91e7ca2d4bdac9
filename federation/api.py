"""JSON API for the command line, authenticated by personal API tokens.

`GET /api/v1/roles` lists my usable grants; `POST /api/v1/credentials/<id>` returns
temporary credentials in the shape AWS's `credential_process` expects.
"""

import functools
from datetime import UTC

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from audit.records import RequestMeta
from core.errors import TokenRequired
from core.views import error_response
from federation import services
from federation.models import ApiToken


def token_required(view):
    @functools.wraps(view)
    @sensitive_variables("header", "presented")
    def wrapper(request, *args, **kwargs):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, presented = header.partition(" ")
        token = ApiToken.authenticate(presented.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            response = error_response(request, TokenRequired(), as_json=True)
            response["WWW-Authenticate"] = 'Bearer realm="portcullis"'
            return response
        ApiToken.objects.for_user(token.user).filter(pk=token.pk).update(
            last_used_at=timezone.now()
        )
        request.user = token.user
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


@require_GET
@token_required
def roles(request):
    grants = services.usable_grants(request.user)
    return JsonResponse(
        {
            "roles": [
                {
                    "id": grant.pk,
                    "label": grant.label,
                    "role_arn": grant.role_arn,
                    "account_id": grant.role.account_id,
                    "account_alias": grant.account_alias,
                    "tenant": grant.tenant.slug,
                    "max_session_seconds": services.session_limit(grant),
                    "region": grant.region,
                }
                for grant in grants
            ]
        }
    )


@sensitive_variables("issued", "credentials")
@require_POST
@token_required
def credentials(request, grant_id):
    meta = RequestMeta.from_request(request)
    chosen = services.read_choices(
        kind=services.IssueKind.CLI,
        user=request.user,
        grant_id=grant_id,
        data=request.POST,
        meta=meta,
    )
    issued = services.issue_cli_credentials(
        user=request.user,
        grant_id=grant_id,
        seconds=chosen.seconds,
        region=chosen.region,
        meta=meta,
    )
    credentials = issued.credentials
    response = JsonResponse(
        {
            "Version": 1,
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token,
            "Expiration": credentials.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    response["Cache-Control"] = "no-store"
    return response
