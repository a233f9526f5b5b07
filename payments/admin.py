"""Support staff's view of billing. Gateway passwords are never shown."""

from django.contrib import admin

from .models import (
    Allocation,
    Customer,
    Invoice,
    InvoiceLine,
    Membership,
    Payment,
    PaymentGatewaySettings,
    Receipt,
    Whitelabel,
)


@admin.register(Whitelabel)
class WhitelabelAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_currency"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "whitelabel", "role"]
    list_filter = ["role", "whitelabel"]
    raw_id_fields = ["user", "whitelabel"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["account_number", "name", "email", "whitelabel"]
    list_filter = ["whitelabel"]
    search_fields = ["account_number", "name", "email"]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    readonly_fields = ["description", "quantity", "unit_amount", "tax_rate", "line_amount", "tax_amount"]
    can_delete = False


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0
    readonly_fields = ["payment", "invoice", "amount", "source", "allocated_at"]
    can_delete = False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "status", "total", "amount_paid", "due_date", "whitelabel"]
    list_filter = ["status", "whitelabel"]
    search_fields = ["number", "customer__name", "customer__account_number"]
    inlines = [InvoiceLineInline]
    readonly_fields = ["subtotal", "tax_total", "total", "amount_paid"]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "kind", "amount", "currency", "received_at", "gateway_reference"]
    list_filter = ["kind", "method", "whitelabel"]
    search_fields = ["gateway_reference", "customer__name"]
    inlines = [AllocationInline]


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ["number", "payment", "issued_at", "whitelabel"]
    search_fields = ["number"]


@admin.register(PaymentGatewaySettings)
class PaymentGatewaySettingsAdmin(admin.ModelAdmin):
    list_display = ["whitelabel", "provider", "currency", "gateway_user"]
    exclude = ["gateway_password"]
