"""Admin for the domain: a read-only view for superusers.

Changes go through the dashboard, the API or management commands, which call the
services and so write the audit trail; an admin form saving models directly would not.
"""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
