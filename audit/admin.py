from django.contrib import admin

from audit.models import AuditEvent, SinkCursor, VerificationRun


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the database refuses changes anyway, the admin should not offer them."""

    list_display = ("seq", "occurred_at", "actor_name", "action", "target_repr", "source_ip")
    list_filter = ("action", "actor_type")
    search_fields = ("action", "actor_name", "target_repr", "request_id")
    ordering = ("-seq",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(VerificationRun)
class VerificationRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "ok", "events_checked", "first_bad_seq", "message")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a verification run is evidence that the chain was checked


@admin.register(SinkCursor)
class SinkCursorAdmin(admin.ModelAdmin):
    """Where each SIEM sink stands; only the shipper moves it."""

    list_display = ("sink", "after_seq", "shipped_at", "failures", "last_error_at", "last_error")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
