from django.contrib import admin

from config.admin_base import ReadOnlyAdmin
from vendors.models import Agency, Contract, Vendor


@admin.register(Agency)
class AgencyAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "time_zone", "trust_idp_mfa", "created_at")
    search_fields = ("name", "slug")


class ContractInline(admin.TabularInline):
    model = Contract
    fields = ("reference", "start_date", "end_date", "grace_days", "access_ends_at", "status")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Vendor)
class VendorAdmin(ReadOnlyAdmin):
    list_display = ("name", "agency", "registration_number", "risk_tier", "status")
    list_filter = ("agency", "status", "risk_tier")
    search_fields = ("name", "registration_number", "contact_email")
    list_select_related = ("agency",)
    inlines = [ContractInline]


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("reference", "vendor", "start_date", "end_date", "access_ends_at", "status")
    list_filter = ("status", "vendor__agency")
    search_fields = ("reference", "title", "vendor__name")
    date_hierarchy = "end_date"
    list_select_related = ("vendor",)
