"""Helpers for the drift tests (the reconcile and webhooks): bill every kind of post-paid record for one
customer, send it in this process, and sign webhook deliveries as Xero does."""

import base64
import hashlib
import hmac
import json
from decimal import Decimal

from django.urls import reverse

from accounting.models import SyncRecord
from accounting.sync import engine
from payments.services import LineInput, add_credit, issue_invoice, record_payment, void_invoice
from tests.factories import CustomerFactory

Status = SyncRecord.Status
WEBHOOK_KEY = "drift-tests-webhook-key-0123456789-abcdefghijklmnopqrstuvwxyz"
WEBHOOK_PATH = reverse("accounting:xero_webhook")


def drain(whitelabel) -> None:
    """One sync run now, in this process; everything billed is then in Xero."""
    engine.run_organisation(whitelabel.pk, hold_partial=False)
    assert not SyncRecord.objects.filter(whitelabel=whitelabel).exclude(status__in=[Status.SENT, Status.SKIPPED])


def bill(whitelabel) -> dict:
    """Every kind of post-paid record for one customer: an invoice paid in two parts, one paid with 20.00
    over (credit), a top-up, credit applied to a later invoice, an open invoice and a voided one."""
    customer = CustomerFactory(whitelabel=whitelabel)
    gst = Decimal("10")
    paid = issue_invoice(customer, [LineInput("Mobile plan", Decimal("1"), Decimal("100.00"), gst)])
    record_payment(customer, "50.00", invoice=paid)
    record_payment(customer, "60.00", invoice=paid)
    extra = issue_invoice(customer, [LineInput("Extra data", Decimal("2"), Decimal("10.00"), gst)])
    record_payment(customer, "42.00", invoice=extra)  # 20.00 left as credit
    add_credit(customer, "25.00")
    from_credit = issue_invoice(customer, [LineInput("Handset", Decimal("1"), Decimal("30.00"), Decimal("0"))])
    roaming = [LineInput("Roaming", Decimal("1"), Decimal("80.00"), gst)]
    open_invoice = issue_invoice(customer, roaming, apply_credit=False)
    mistake = issue_invoice(customer, [LineInput("Wrong plan", Decimal("1"), Decimal("5.00"), gst)], apply_credit=False)
    void_invoice(mistake)
    return {"customer": customer, "paid": paid, "from_credit": from_credit, "open": open_invoice}


def sign(body: bytes, key: str = WEBHOOK_KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def event(tenant_id: str, resource_id: str, *, category="INVOICE", event_type="UPDATE", at="2026-05-01T10:00:00.123"):
    collection = {"INVOICE": "Invoices", "CONTACT": "Contacts"}.get(category, "CreditNotes")
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{collection}/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": at,
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }


def delivery(*events, first: int = 1) -> bytes:
    """A batch as Xero sends it: compact JSON, so the signature is over exactly these bytes."""
    payload = {
        "events": list(events),
        "firstEventSequence": first,
        "lastEventSequence": first + max(len(events) - 1, 0),
        "entropy": "ABCDEFGHIJKLMNOPQRST",
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def post_delivery(client, body: bytes, signature: str | None = None):
    headers = {"x-xero-signature": sign(body) if signature is None else signature}
    return client.post(WEBHOOK_PATH, data=body, content_type="application/json; charset=utf-8", headers=headers)
