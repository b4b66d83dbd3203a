"""The Django admin's account screens: every change to users, groups, permissions and
TOTP devices writes the audit trail, and no screen shows a TOTP seed.

The admin saves these models directly (there are no services for them), so the
audit event is written from the admin's own log hooks, which it calls after each
add, change (password included) and delete, inside the same request.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actor import Actor
from audit.services import audit_record_standalone, changed
from dashboard.models import SealedTOTPDevice

User = get_user_model()


def _perms(queryset) -> list[str]:
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in queryset)


class AuditedAdminMixin:
    """Writes ``<audit_name>.created/changed/deleted`` with before/after of ``audit_state``."""

    audit_name = ""

    def audit_state(self, obj) -> dict:
        raise NotImplementedError

    def _secret_state(self, obj) -> dict:
        # Compared, never recorded: only whether it changed goes into the trail.
        return {}

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is not None:
            befores = request.__dict__.setdefault("_audit_before", {})
            befores[obj.pk] = (self.audit_state(obj), self._secret_state(obj))
        return obj

    def _audit(self, request, obj, verb: str, before: dict | None, after: dict | None):
        audit_record_standalone(
            actor=Actor.from_request(request),
            action=f"{self.audit_name}.{verb}",
            target=obj,
            before=before,
            after=after,
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "created", None, self.audit_state(obj))
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request, obj, message):
        obj.refresh_from_db()
        before, secret_before = request.__dict__.get("_audit_before", {}).get(obj.pk, ({}, {}))
        after = self.audit_state(obj)
        old, new = changed(before, after)
        for key, value in self._secret_state(obj).items():
            if secret_before.get(key) != value:
                new[key] = "changed"
        if old or new:
            self._audit(request, obj, "changed", old, new)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted", self.audit_state(obj), None)
        return super().log_deletions(request, queryset)  # type: ignore[misc]


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    audit_name = "user"

    def audit_state(self, obj) -> dict:
        return {
            "username": obj.get_username(),
            "email": obj.email,
            "is_active": obj.is_active,
            "is_staff": obj.is_staff,
            "is_superuser": obj.is_superuser,
            "groups": sorted(obj.groups.values_list("name", flat=True)),
            "user_permissions": _perms(obj.user_permissions.select_related("content_type")),
        }

    def _secret_state(self, obj) -> dict:
        return {"password": obj.password}


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    audit_name = "group"

    def audit_state(self, obj) -> dict:
        return {
            "name": obj.name,
            "permissions": _perms(obj.permissions.select_related("content_type")),
        }


# django-otp's own device keeps its seed in plain hex; migration 0001 emptied its table
# and nothing creates one any more, so it gets no admin page at all.
admin.site.unregister(TOTPDevice)


@admin.register(SealedTOTPDevice)
class TOTPDeviceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Devices can be looked at and deleted (a lost phone), never edited, and the seed
    is neither shown nor exported: anyone reading it could make codes."""

    audit_name = "otp_device"
    list_display = ("user", "name", "confirmed", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "name")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields

    def audit_state(self, obj) -> dict:
        return {"user": obj.user.get_username(), "name": obj.name, "confirmed": obj.confirmed}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
