from django.contrib import admin

from access.models import Credential, System
from config.admin_base import ReadOnlyAdmin


@admin.register(System)
class SystemAdmin(ReadOnlyAdmin):
    list_display = ("name", "agency", "kind", "lifecycle", "data_classification", "has_secret")
    list_filter = ("agency", "kind", "lifecycle", "data_classification")
    search_fields = ("name", "owner_email")
    # The ciphertext is not shown either: it is of no use to a person and only invites copying.
    exclude = ("secret_encrypted",)

    @admin.display(boolean=True)
    def has_secret(self, obj):
        return obj.has_secret


@admin.register(Credential)
class CredentialAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "vendor", "system", "kind", "status", "revoked_at")
    list_filter = ("status", "kind", "system__kind", "system__agency")
    search_fields = ("external_id", "holder", "vendor__name", "system__name")
    list_select_related = ("vendor", "system")
