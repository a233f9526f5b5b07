"""The whitelabels' Xero mapping in the support console, read-only (issue 20): support sees where each
category, tax rate and payment method goes; admins change it on the settings page or ops with
`manage.py xero_mapping`."""

from django.contrib import admin

from arena_xero.admin import ReadOnlyAdmin

from .mapping_models import CategoryMapping, DailySummary, MappingOptions, MethodMapping, TaxMapping


@admin.register(CategoryMapping)
class CategoryMappingAdmin(ReadOnlyAdmin):
    list_display = ("whitelabel", "category", "account_code", "tracking_text", "updated_at")
    list_filter = ("whitelabel",)
    search_fields = ("whitelabel__slug", "category", "account_code")


@admin.register(TaxMapping)
class TaxMappingAdmin(ReadOnlyAdmin):
    list_display = ("whitelabel", "tax_rate", "tax_type", "updated_at")
    list_filter = ("whitelabel",)


@admin.register(MethodMapping)
class MethodMappingAdmin(ReadOnlyAdmin):
    list_display = ("whitelabel", "method", "account_code", "fee_account_code", "updated_at")
    list_filter = ("whitelabel", "method")


@admin.register(MappingOptions)
class MappingOptionsAdmin(ReadOnlyAdmin):
    list_display = ("whitelabel", "daily_summary", "summary_since", "summarised_through")


@admin.register(DailySummary)
class DailySummaryAdmin(ReadOnlyAdmin):
    list_display = ("whitelabel", "day", "method", "receipts", "first_receipt", "last_receipt", "total_in",
                    "total_reversed")
    list_filter = ("whitelabel", "method")
    date_hierarchy = "day"
