"""Sending the documents: customers' contacts, invoices, their voids, and credit notes (one handler per
kind, registered on its row of sync/kinds.py)."""

import logging

from django.db.models.functions import Lower, Trim

from payments.models import (
    CreditNote,
    Customer,
    Invoice,
)

from ..errors import MappingError
from ..models import SyncRecord
from ..xero import client
from . import coding, kinds, mapping, outbox, payloads
from .protocol import (
    Item,
    Run,
    check_currency,
    contact_id_or_park,
    dependency_id_or_park,
    fail_without_call,
    failed_without_revenue_code,
    in_this_organisation,
    loaded,
    look_up_unclear,
    never_sent,
    records_of,
    send,
)

logger = logging.getLogger(__name__)
Kind = SyncRecord.Kind
Status = SyncRecord.Status


# Contacts ---------------------------------------------------------------------------------------


def _contact_names(run: Run, customers: list[Customer]) -> dict[int, str]:
    """Each customer's contact name, unique among the whitelabel's customers (mapping.contact_name)."""
    wanted = {mapping.normalised(c.name) for c in customers}
    same_name = list(
        Customer.objects.annotate(key=Lower(Trim("name")))
        .filter(whitelabel_id=run.whitelabel.pk, key__in=wanted)
        .values_list("pk", "name")
    )
    held = {
        r.object_id: (r.payload or {}).get("Name", "")
        for r in SyncRecord.objects.filter(kind=Kind.CONTACT, object_id__in=[pk for pk, _ in same_name])
        if r.xero_tenant_id == run.tenant_id and r.xero_id
    }
    names = {}
    for customer in customers:
        key = mapping.normalised(customer.name)
        peers = [
            mapping.NameHolder(pk, held.get(pk, ""))
            for pk, name in same_name
            if pk != customer.pk and mapping.normalised(name) == key
        ]
        names[customer.pk] = mapping.contact_name(
            customer_id=customer.pk,
            name=customer.name,
            account_number=customer.account_number,
            own_name_in_xero=held.get(customer.pk, ""),
            peers=peers,
        )
    return names


MERGES_FOLLOWED = 5  # a contact merged into one that was merged in turn...


def _contacts_now(run: Run, records: list[SyncRecord]) -> dict[int, dict]:
    """For the records whose contact is in this organisation (an update, not a first send): that contact as
    Xero has it now, or, if a person merged it in Xero, the contact it was merged into (followed to the one
    that is left). One call for the batch, and one per merge followed."""
    known = {r.pk: in_this_organisation(run, r).lower() for r in records if in_this_organisation(run, r)}
    if not known:
        return {}
    seen: dict[str, dict] = {}
    wanted = set(known.values())
    for _ in range(MERGES_FOLLOWED + 1):
        ids = sorted(wanted - set(seen))
        if not ids:
            break
        for contact in run.call(lambda creds, ids=ids: client.contacts_by_id(creds, ids)):
            seen[str(contact.get("ContactID", "")).lower()] = contact
        wanted = {str(c["MergedToContactID"]).lower() for c in seen.values() if c.get("MergedToContactID")}
    now = {}
    for pk, contact_id in known.items():
        contact = seen.get(contact_id)
        for _ in range(MERGES_FOLLOWED):
            survivor = contact and seen.get(str(contact.get("MergedToContactID") or "").lower())
            if not survivor:
                break
            contact = survivor
        if contact:
            now[pk] = contact
    return now


def _contact_changed_in_xero(record: SyncRecord, contact: dict) -> str:
    """What a person did in Xero to the contact Arena is about to update (noted on the record), if anything."""
    if str(contact.get("ContactID", "")).lower() != record.xero_id.lower():
        return (
            f"Merged in Xero into contact '{contact.get('Name')}' ({contact.get('ContactID')}): Arena now sends "
            "this customer's changes and new documents to that contact."
        )
    if contact.get("ContactStatus") == "ARCHIVED":
        return (
            "Archived in Xero: Arena updated the archived contact, and Xero refuses new invoices for it until "
            "someone restores it there."
        )
    return ""


@kinds.sender(Kind.CONTACT)
def sync_contacts(run: Run, records: list[SyncRecord]) -> None:
    records, customers = loaded(records, Customer.objects)
    names = _contact_names(run, [customers[r.object_id] for r in records])
    now = _contacts_now(run, records)
    items, notes = [], {}
    for record in records:
        customer, contact = customers[record.object_id], now.get(record.pk, {})
        contact_id = str(contact.get("ContactID") or in_this_organisation(run, record))
        body = payloads.contact(customer, name=names[record.object_id], xero_id=contact_id)
        if note := contact and _contact_changed_in_xero(record, contact):
            notes[record.pk] = [note]
        if contact and contact.get("ContactNumber") != customer.account_number:
            body.pop("ContactNumber")  # the contact merged away keeps it, and a number is Xero's once
        items.append(Item(record, body))
    outbox.records_mark_changed_in_xero(notes)
    # POST Contacts matches by ContactID, then ContactNumber: sending again updates, never duplicates.
    send(run, items, "contacts", client.contacts_upsert, "ContactID")


# Invoices -----------------------------------------------------------------------------------------


@kinds.sender(Kind.INVOICE)
def sync_invoices(run: Run, records: list[SyncRecord]) -> None:
    records, invoices = loaded(records, Invoice.objects.select_related("customer").prefetch_related("lines"))
    # Look up first: an invoice voided in Arena after an unclear send may be in Xero, and must be voided there.
    candidates = [Item(r, {}, invoices[r.object_id].number) for r in records]
    records = [i.record for i in look_up_unclear(run, candidates, client.invoices_find, "InvoiceNumber", "InvoiceID")]
    contacts = records_of(Kind.CONTACT, [invoices[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        invoice = invoices[record.object_id]
        if invoice.status == Invoice.Status.VOID:
            outbox.record_skip(record, reason="Voided in Arena before it reached Xero.")
        elif body := _document_body_or_hold(run, record, contacts, invoice, payloads.invoice):
            items.append(Item(record, body, invoice.number))
    send(run, items, "invoices", client.invoices_create, "InvoiceID")


@kinds.sender(Kind.INVOICE_VOID)
def sync_invoice_voids(run: Run, records: list[SyncRecord]) -> None:
    records, invoices = loaded(records, Invoice.objects)
    invoice_records = records_of(Kind.INVOICE, [r.object_id for r in records])
    items = []
    for record in records:
        invoice_record = invoice_records.get(record.object_id)
        if never_sent(invoice_record):
            outbox.record_skip(record, reason="The invoice never reached Xero, so there is nothing to void.")
            continue
        invoice_id = dependency_id_or_park(
            run, record, invoice_record, kind=Kind.INVOICE, object_id=record.object_id, label=record.label
        )
        if invoice_id:
            items.append(Item(record, payloads.invoice_void(invoice_id), invoices[record.object_id].number))
    items = look_up_unclear(
        run, items, client.invoices_find, "InvoiceNumber", "InvoiceID", accept=lambda d: d.get("Status") == "VOIDED"
    )
    send(run, items, "invoice-voids", client.invoices_update, "InvoiceID")


@kinds.sender(Kind.CREDIT_NOTE)
def sync_credit_notes(run: Run, records: list[SyncRecord]) -> None:
    records, notes = loaded(
        records, CreditNote.objects.select_related("customer", "invoice").prefetch_related("lines")
    )
    candidates = [Item(r, {}, notes[r.object_id].number) for r in records]
    found = look_up_unclear(run, candidates, client.credit_notes_find, "CreditNoteNumber", "CreditNoteID")
    records = [i.record for i in found]
    contacts = records_of(Kind.CONTACT, [notes[r.object_id].customer_id for r in records])
    items = []
    for record in records:
        note = notes[record.object_id]
        if body := _document_body_or_hold(run, record, contacts, note, payloads.credit_note):
            items.append(Item(record, body, note.number))
    send(run, items, "credit-notes", client.credit_notes_create, "CreditNoteID")


def _document_body_or_hold(run: Run, record: SyncRecord, contacts, document, build) -> dict | None:
    """The body of an invoice or credit note: its contact, its currency checked, its lines' tax rates
    mapped. None when it holds the record instead: parked for its contact, or failed without a call."""
    if failed_without_revenue_code(run, record):
        return None
    contact_id = contact_id_or_park(run, record, contacts, document.customer)
    if not contact_id:
        return None
    lines = list(document.lines.all())
    try:
        check_currency(run, document.currency)
        codes = coding.line_codes(run, lines)
    except MappingError as exc:
        fail_without_call(run, record, str(exc))
        return None
    return build(document, contact_id=contact_id, lines=lines, codes=codes)


