"""Support staff's view of the integration: settings, connections (never the tokens) and the outbox."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import ngettext

from .models import AccountingSettings, SyncRecord, XeroConnection
from .sync import outbox


@admin.register(AccountingSettings)
class AccountingSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "whitelabel",
        "accounting_system",
        "payment_type",
        "revenue_code",
        "bank_account_code",
        "updated_at",
    ]
    list_filter = ["accounting_system", "payment_type"]
    raw_id_fields = ["whitelabel", "updated_by"]


@admin.register(XeroConnection)
class XeroConnectionAdmin(admin.ModelAdmin):
    list_display = ["whitelabel", "tenant_name", "status", "connected_by", "connected_at", "refreshed_at"]
    list_filter = ["status"]
    search_fields = ["whitelabel__name", "tenant_name", "tenant_id"]
    exclude = ["access_token", "refresh_token"]
    readonly_fields = [
        "whitelabel",
        "tenant_id",
        "tenant_name",
        "connection_id",
        "auth_event_id",
        "scopes",
        "status",
        "status_reason",
        "access_token_expires_at",
        "refreshed_at",
        "connected_by",
        "connected_as",
        "connected_at",
        "disconnected_at",
    ]

    def has_add_permission(self, request):
        return False


class ChangedInXeroFilter(admin.SimpleListFilter):
    """Records a person changed in Xero after Arena sent them (found by a webhook or the reconcile)."""

    title = "changed in Xero"
    parameter_name = "changed_in_xero"

    def lookups(self, request, model_admin):
        return [("yes", "Changed in Xero"), ("no", "Not changed in Xero")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(changed_in_xero_at__isnull=self.value() == "no")
        return queryset


@admin.register(SyncRecord)
class SyncRecordAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "kind",
        "whitelabel",
        "status",
        "attempts",
        "next_attempt_at",
        "xero_id",
        "reason",
        "changed_in_xero_at",
    ]
    list_filter = ["status", "kind", ChangedInXeroFilter, "whitelabel"]
    search_fields = ["label", "xero_id", "reason"]
    readonly_fields = [f.name for f in SyncRecord._meta.fields]
    actions = ["retry_now", "resolve_changes_in_xero"]

    @admin.action(description="Mark the changes in Xero as resolved")
    def resolve_changes_in_xero(self, request, queryset):
        count = outbox.records_resolve_changed_in_xero(ids=queryset.values("id"))
        messages.success(
            request,
            ngettext("%(count)d change in Xero resolved.", "%(count)d changes in Xero resolved.", count)
            % {"count": count},
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry the selected records now")
    def retry_now(self, request, queryset):
        count = 0
        with transaction.atomic():
            for whitelabel_id in queryset.values_list("whitelabel_id", flat=True).distinct():
                ids = queryset.filter(whitelabel_id=whitelabel_id).exclude(status=SyncRecord.Status.SENT).values("id")
                count += outbox.records_rearm(whitelabel_id=whitelabel_id, ids=ids)
        messages.success(
            request,
            ngettext("%(count)d record will be sent again.", "%(count)d records will be sent again.", count)
            % {"count": count},
        )
