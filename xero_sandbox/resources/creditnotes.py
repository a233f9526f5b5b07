"""Credit notes: ACCRECCREDIT (to a customer) and ACCPAYCREDIT (from a supplier), their statuses and
numbers. Allocations and refunds are in ``credits`` and ``payments``.

Statuses as for invoices: created DRAFT, SUBMITTED or AUTHORISED; DRAFT/SUBMITTED may become
AUTHORISED or DELETED; AUTHORISED may become VOIDED while nothing is allocated or refunded; PAID is
set (and unset) by the sandbox as RemainingCredit reaches (leaves) 0.
"""
from ..errors import ValidationFailed
from ..indexes import credit_notes_numbered, index
from ..models import ZERO, CreditNote, OrgBook
from ..wire import date_string, is_guid, new_id
from .common import (
    CREDITNOTE,
    LINE_AMOUNT_TYPES,
    UNIT_DP,
    Ctx,
    Problems,
    amounts_type,
    build_lines,
    contact_for_document,
    contact_ref_json,
    currency,
    line_json,
    maybe_date,
    optional_date,
    stamp,
    store_contact,
    text,
    totals,
    unit_places,
)
from .credits import allocations_json, refunds_json
from .invoices import line_input
from .locks import check_open

TYPES = ("ACCRECCREDIT", "ACCPAYCREDIT")
CREATE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")
ALL_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
ENUMS = {"Type": TYPES, "Status": ALL_STATUSES, "LineAmountTypes": LINE_AMOUNT_TYPES}
TRANSITIONS = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
    "PAID": {"PAID"},
}
FINANCIAL_KEYS = ("LineItems", "LineAmountTypes", "CurrencyCode", "Contact", "Type")
NUMBER_PREFIX = "CN-"


def find_credit_note(book: OrgBook, identifier: str) -> CreditNote | None:
    return book.credit_notes.get(identifier.lower()) if is_guid(identifier) else None


def find_by_number(book: OrgBook, number: str) -> CreditNote | None:
    return next((c for c in credit_notes_numbered(book, number) if c.status != "DELETED"), None)


def create_credit_note(ctx: Ctx, data: dict) -> CreditNote:
    """PUT semantics: create; an existing CreditNoteID is updated instead."""
    if data.get("CreditNoteID"):
        return update_credit_note(ctx, _by_id(ctx.book, data["CreditNoteID"]), data)
    return _create(ctx, data)


def upsert_credit_note(ctx: Ctx, data: dict) -> CreditNote:
    """POST semantics: update the credit note matching CreditNoteID or CreditNoteNumber, else create."""
    if data.get("CreditNoteID"):
        return update_credit_note(ctx, _by_id(ctx.book, data["CreditNoteID"]), data)
    number = data.get("CreditNoteNumber")
    existing = find_by_number(ctx.book, number) if isinstance(number, str) and number else None
    if existing is not None:
        return update_credit_note(ctx, existing, data)
    return _create(ctx, data)


def _by_id(book: OrgBook, credit_note_id) -> CreditNote:
    credit_note = find_credit_note(book, str(credit_note_id))
    if credit_note is None:
        raise ValidationFailed(f"Credit note with CreditNoteID '{credit_note_id}' could not be found")
    return credit_note


def _create(ctx: Ctx, data: dict) -> CreditNote:
    problems = Problems()
    type_ = data.get("Type")
    if type_ not in TYPES:
        problems.add("Credit note Type must be ACCRECCREDIT or ACCPAYCREDIT")
    status = data.get("Status") or "DRAFT"
    if status not in CREATE_STATUSES:
        problems.add("Credit note not of valid status for creation")
    contact = problems.attempt(contact_for_document, ctx, data)
    kind = problems.attempt(amounts_type, data, default="Exclusive")
    code, rate = problems.attempt(currency, ctx, data, default=(ctx.book.organisation.base_currency, None))
    credit_note = CreditNote(
        credit_note_id=new_id(), type=type_, contact_id=contact.contact_id if contact else "", status=status,
        date=problems.attempt(optional_date, data, "Date") or ctx.today, line_amount_types=kind,
        currency_code=code, currency_rate=rate, created_utc=ctx.now, updated_utc=ctx.now,
    )
    _apply_details(ctx, credit_note, data, problems)
    credit_note.line_items = problems.attempt(
        build_lines, ctx, data, amounts_type=kind, need_accounts=status in ("SUBMITTED", "AUTHORISED"), default=[]
    )
    _check_ready(credit_note, problems)
    check_open(ctx, credit_note.date, problems)
    problems.check()
    store_contact(ctx, contact, customer=type_ == "ACCRECCREDIT", supplier=type_ == "ACCPAYCREDIT")
    if type_ == "ACCRECCREDIT" and not credit_note.credit_note_number:
        credit_note.credit_note_number = _next_number(ctx.book)
    _recalculate(credit_note)
    ctx.book.credit_notes[credit_note.credit_note_id] = credit_note
    index(ctx.book).note_credit_note(credit_note)
    ctx.changed(CREDITNOTE, credit_note.credit_note_id, created=True)
    return credit_note


def update_credit_note(ctx: Ctx, credit_note: CreditNote, data: dict) -> CreditNote:
    problems = Problems()
    target = data.get("Status") or credit_note.status
    _check_transition(credit_note, target, data, problems)
    problems.check()
    draft = CreditNote(**{**credit_note.__dict__, "line_items": list(credit_note.line_items)})
    draft.status = target
    contact = None
    if "Contact" in data:
        contact = problems.attempt(contact_for_document, ctx, data)
        if contact is not None:
            draft.contact_id = contact.contact_id
    if "Date" in data:
        draft.date = problems.attempt(optional_date, data, "Date") or draft.date
    if "LineAmountTypes" in data:
        draft.line_amount_types = problems.attempt(amounts_type, data, default=draft.line_amount_types)
    if "CurrencyCode" in data:
        draft.currency_code, draft.currency_rate = problems.attempt(
            currency, ctx, data, default=(draft.currency_code, draft.currency_rate)
        )
    _apply_details(ctx, draft, data, problems)
    if "LineItems" in data or "LineAmountTypes" in data:
        given = "LineItems" in data
        lines = data["LineItems"] if given else [line_input(line) for line in draft.line_items]
        with unit_places(UNIT_DP.get() if given else 4):  # stored lines keep their unit amounts
            draft.line_items = problems.attempt(
                build_lines, ctx, {"LineItems": lines}, amounts_type=draft.line_amount_types,
                need_accounts=draft.status in ("SUBMITTED", "AUTHORISED"), default=draft.line_items,
            )
    _check_ready(draft, problems)
    problems.check()
    if contact is not None:
        store_contact(ctx, contact, customer=draft.type == "ACCRECCREDIT", supplier=draft.type == "ACCPAYCREDIT")
    if draft.type == "ACCRECCREDIT" and not draft.credit_note_number:
        draft.credit_note_number = _next_number(ctx.book)
    _recalculate(draft)
    draft.updated_utc = ctx.now
    credit_note.__dict__.update(draft.__dict__)
    index(ctx.book).note_credit_note(credit_note)
    ctx.changed(CREDITNOTE, credit_note.credit_note_id)
    return credit_note


def _check_transition(credit_note: CreditNote, target: str, data: dict, problems: Problems) -> None:
    current = credit_note.status
    if target not in ALL_STATUSES:
        problems.add(f"Credit note Status must be one of {', '.join(ALL_STATUSES)}")
        return
    if current in ("VOIDED", "DELETED"):
        if target != current or set(data) - {"CreditNoteID", "CreditNoteNumber", "Status"}:
            problems.add(f"This document cannot be edited as it has been {current.lower()}.")
        return
    used = credit_note.remaining_credit < credit_note.total
    if target == "VOIDED" and used:
        problems.add("This credit note cannot be voided as it has been allocated or refunded.")
    elif target == "DELETED" and current not in ("DRAFT", "SUBMITTED"):
        problems.add("Only DRAFT or SUBMITTED credit notes can be deleted; void an AUTHORISED credit note instead.")
    elif target not in TRANSITIONS.get(current, set()) and not (current == "PAID" and target == "AUTHORISED"):
        problems.add(f"Credit note not of valid status for modification ({current} to {target})")
    if used and any(key in data for key in FINANCIAL_KEYS):
        problems.add("This credit note cannot be edited as it has been allocated or refunded.")


def _apply_details(ctx: Ctx, credit_note: CreditNote, data: dict, problems: Problems) -> None:
    if "DueDate" in data:
        credit_note.due_date = problems.attempt(optional_date, data, "DueDate")
    if "Reference" in data:
        credit_note.reference = problems.attempt(text, data, "Reference")
    if "CreditNoteNumber" in data:
        number = problems.attempt(text, data, "CreditNoteNumber", 255)
        credit_note.credit_note_number = number or None
        if number and credit_note.type == "ACCRECCREDIT" and _number_taken(ctx.book, number, credit_note):
            problems.add("Credit Note # must be unique.")


def _check_ready(credit_note: CreditNote, problems: Problems) -> None:
    if credit_note.status not in ("SUBMITTED", "AUTHORISED"):
        return
    if credit_note.status == "AUTHORISED" and not credit_note.line_items and not problems.messages:
        problems.add("A credit note must have at least one line item before it can be approved.")
    if any(line.account_code is None and line.line_amount != 0 for line in credit_note.line_items):
        problems.add("Account code must be specified on each line item")


def _number_taken(book: OrgBook, number: str, credit_note: CreditNote) -> bool:
    found = find_by_number(book, number)
    return found is not None and found.credit_note_id != credit_note.credit_note_id and found.type == "ACCRECCREDIT"


def _next_number(book: OrgBook) -> str:
    while True:
        number = f"{NUMBER_PREFIX}{book.next_credit_note_number:04d}"
        book.next_credit_note_number += 1
        if find_by_number(book, number) is None:
            return number


def _recalculate(credit_note: CreditNote) -> None:
    """Totals from the lines; RemainingCredit is what allocations and refunds have not used (a used
    credit note's lines can't change, so what was used stays used)."""
    used = credit_note.total - credit_note.remaining_credit
    credit_note.sub_total, credit_note.total_tax, credit_note.total = totals(
        credit_note.line_items, credit_note.line_amount_types
    )
    if credit_note.status in ("VOIDED", "DELETED"):
        credit_note.remaining_credit = ZERO
    else:
        credit_note.remaining_credit = credit_note.total - used


def credit_note_json(book: OrgBook, credit_note: CreditNote) -> dict:
    body = {
        "Type": credit_note.type,
        "CreditNoteID": credit_note.credit_note_id,
        "CreditNoteNumber": credit_note.credit_note_number or "",
        "Reference": credit_note.reference or "",
        "Contact": contact_ref_json(book.contacts.get(credit_note.contact_id)),
        "DateString": date_string(credit_note.date),
        "Date": maybe_date(credit_note.date),
        "DueDate": maybe_date(credit_note.due_date),
        "Status": credit_note.status,
        "LineAmountTypes": credit_note.line_amount_types,
        "LineItems": [line_json(line) for line in credit_note.line_items],
        "SubTotal": credit_note.sub_total,
        "TotalTax": credit_note.total_tax,
        "Total": credit_note.total,
        "UpdatedDateUTC": stamp(credit_note.updated_utc),
        "CurrencyCode": credit_note.currency_code,
        "CurrencyRate": credit_note.currency_rate,
        "FullyPaidOnDate": maybe_date(credit_note.fully_paid_on),
        "RemainingCredit": credit_note.remaining_credit,
        "Allocations": allocations_json(book, credit_note),
        "Payments": refunds_json(book, credit_note),
        "SentToContact": credit_note.sent_to_contact,
        "HasAttachments": False,
        "HasErrors": False,
    }
    return {key: value for key, value in body.items() if value is not None}
