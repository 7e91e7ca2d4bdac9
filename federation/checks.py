"""What the portal checks of its own set-up: Django's deployment checks, and readiness."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

from core.health import Finding
from federation import aws


@register(Tags.security, deploy=True)
def sandbox_in_production(app_configs, **kwargs):
    """The sandbox AWS is for trying the portal; a deployment talks to real AWS."""
    if settings.AWS_PORTAL_SANDBOX and not settings.DEBUG:
        return [
            Warning(
                "AWS_PORTAL_SANDBOX is on with DEBUG off: the portal talks to the local "
                "sandbox AWS, not to AWS.",
                hint="Set AWS_PORTAL_SANDBOX=false and give the portal real AWS credentials.",
                id="portcullis.W001",
            )
        ]
    return []


def aws_readiness() -> list[Finding]:
    """/readyz: whether the portal's own AWS credentials resolve. Reported, not a reason to
    take the host out of service: every host shares them, so a metadata service that
    hiccups would otherwise take sign-in, approvals and the trail down with issuance."""
    _, detail = aws.broker_credentials_status()
    return [Finding("aws", True, detail)]
