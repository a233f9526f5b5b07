"""Billing as support staff see it: read-only for everyone, superusers included. Money changes only through
payments.services (issue_invoice, record_payment, add_credit, void_invoice, issue_credit_note, refund_credit,
reverse_payment), so that every change reaches the outbox the way billing does. Gateway passwords are never shown."""

from django.contrib import admin

from arena_xero.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import (
    Allocation,
    CreditNote,
    CreditNoteAllocation,
    CreditNoteLine,
    Customer,
    Invoice,
    InvoiceLine,
    Membership,
    Payment,
    PaymentGatewaySettings,
    Receipt,
    Refund,
    RefundPart,
    Whitelabel,
)


@admin.register(Whitelabel)
class WhitelabelAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "default_currency", "time_zone"]
    search_fields = ["name", "slug"]
    exclude = ["next_invoice_number", "next_receipt_number", "next_credit_note_number", "next_refund_number"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "whitelabel", "role"]
    list_filter = ["role", "whitelabel"]
    search_fields = ["user__username", "whitelabel__name"]


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ["account_number", "name", "email", "whitelabel"]
    list_filter = ["whitelabel"]
    search_fields = ["account_number", "name", "email"]


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ["description", "quantity", "unit_amount", "tax_rate", "line_amount", "tax_amount"]


class AllocationInline(ReadOnlyInline):
    model = Allocation
    fk_name = "payment"
    fields = ["invoice", "amount", "source", "allocated_at", "reversed_at"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer", "status", "total", "amount_paid", "due_date", "whitelabel"]
    list_filter = ["status", "whitelabel"]
    search_fields = ["number", "customer__name", "customer__account_number"]
    list_select_related = ["customer", "whitelabel"]
    inlines = [InvoiceLineInline]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "receipt", "customer", "kind", "amount", "currency", "received_at", "source", "reversed_at"]
    list_filter = ["kind", "method", "source", ("reversed_at", admin.EmptyFieldListFilter), "whitelabel"]
    search_fields = ["gateway_reference", "receipt__number", "customer__name", "customer__account_number", "source_id"]
    list_select_related = ["customer", "receipt"]
    inlines = [AllocationInline]


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["number", "payment", "issued_at", "whitelabel"]
    search_fields = ["number"]


@admin.register(PaymentGatewaySettings)
class PaymentGatewaySettingsAdmin(ReadOnlyAdmin):
    list_display = ["whitelabel", "provider", "currency", "gateway_user"]
    fields = ["whitelabel", "provider", "accepted_cards", "currency", "gateway_user", "has_password", "updated_at"]
    readonly_fields = ["has_password"]

    @admin.display(boolean=True, description="Password set")
    def has_password(self, obj):
        return obj.has_password


class CreditNoteLineInline(ReadOnlyInline):
    model = CreditNoteLine
    fields = ["description", "quantity", "unit_amount", "tax_rate", "line_amount", "tax_amount"]


class CreditNoteAllocationInline(ReadOnlyInline):
    model = CreditNoteAllocation
    fields = ["invoice", "amount", "allocated_at"]


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ["number", "invoice", "customer", "total", "reason", "issue_date", "whitelabel"]
    list_filter = ["whitelabel"]
    search_fields = ["number", "invoice__number", "customer__name", "customer__account_number"]
    list_select_related = ["invoice", "customer", "whitelabel"]
    inlines = [CreditNoteLineInline, CreditNoteAllocationInline]


class RefundPartInline(ReadOnlyInline):
    model = RefundPart
    fields = ["payment", "credit_note", "amount"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["number", "customer", "amount", "currency", "method", "refunded_at", "whitelabel"]
    list_filter = ["method", "whitelabel"]
    search_fields = ["number", "reference", "customer__name", "customer__account_number"]
    list_select_related = ["customer", "whitelabel"]
    inlines = [RefundPartInline]
