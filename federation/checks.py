from django.conf import settings
from django.core.checks import Tags, Warning, register


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
