"""People and teams in the admin are accounts' pages; here deleting one first ends their
grants, each with its audit record."""

from django.contrib import admin

from accounts import admin as accounts_admin
from accounts.models import Team, User
from audit.records import RequestMeta
from federation import services
from federation.models import (
    ApiToken,
    RoleMapping,
)


class DeletesGrantees:
    """Deleting a person or a team ends their grants first, each with its audit record."""

    def delete_model(self, request, obj):
        services.delete_grantees(
            actor=request.user, grantees=[obj], meta=RequestMeta.from_request(request)
        )

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Grants go with their grantee, ended on the record first, and a person's API tokens
        # go with them: neither needs a delete permission of its own.
        perms_needed.discard(RoleMapping._meta.verbose_name)
        perms_needed.discard(ApiToken._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_queryset(self, request, queryset):
        services.delete_grantees(
            actor=request.user,
            grantees=list(queryset),
            meta=RequestMeta.from_request(request),
        )


# People and teams are accounts' admin pages; deleting one here first ends their grants.
for model, model_admin in [(User, accounts_admin.UserAdmin), (Team, accounts_admin.TeamAdmin)]:
    admin.site.unregister(model)
    admin.site.register(
        model,
        type(model_admin.__name__, (DeletesGrantees, model_admin), {"__module__": __name__}),
    )
