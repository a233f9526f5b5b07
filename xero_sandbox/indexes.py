"""Lookups that would otherwise scan a whole organisation: records by number, name and contact, and
what is linked to an invoice or a credit. Benchmarks fill books with 100,000 records, and batch
writes look things up for every element, so scans would make each call slower than the last.

An index is built on first use from the book (so a book loaded from a state file needs nothing
saved) and kept up to date by ``note_*`` calls where records are stored or change. Entries are
only hints: every read checks the record itself, so an entry left behind by a change (a new
number, an archived contact) is harmless; what must not happen is a record missing from its entry,
hence a ``note_*`` call at every place that stores a record or changes a key below.
"""
from collections import defaultdict

from .models import Contact, CreditNote, Invoice, OrgBook, Payment


class BookIndex:
    def __init__(self, book: OrgBook):
        self.invoice_numbers: dict[str, list[str]] = defaultdict(list)
        self.invoice_positions: dict[str, int] = {}  # to list found invoices in the book's order
        self.invoices_by_contact: dict[str, list[str]] = defaultdict(list)
        self.credit_note_numbers: dict[str, list[str]] = defaultdict(list)
        self.contact_numbers: dict[str, list[str]] = defaultdict(list)
        self.contact_names: dict[str, list[str]] = defaultdict(list)
        self.payments_by_invoice: dict[str, list[str]] = defaultdict(list)
        self.refunds_by_credit: dict[str, list[str]] = defaultdict(list)
        self.credits_by_invoice: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for contact in book.contacts.values():
            self.note_contact(contact)
        for invoice in book.invoices.values():
            self.note_invoice(invoice)
        for credit_note in book.credit_notes.values():
            self.note_credit_note(credit_note)
        for payment in book.payments.values():
            self.note_payment(payment)
        for kind in ("overpayment", "prepayment", "creditnote"):
            for credit in book.credits(kind).values():
                for allocation in credit.allocations:
                    self.note_allocation(kind, credit.credit_id, allocation.invoice_id)

    # Keeping up --------------------------------------------------------------------------------

    def note_invoice(self, invoice: Invoice) -> None:
        self.invoice_positions.setdefault(invoice.invoice_id, len(self.invoice_positions))
        if invoice.invoice_number:
            _add(self.invoice_numbers[invoice.invoice_number], invoice.invoice_id)
        _add(self.invoices_by_contact[invoice.contact_id], invoice.invoice_id)

    def note_credit_note(self, credit_note: CreditNote) -> None:
        if credit_note.credit_note_number:
            _add(self.credit_note_numbers[credit_note.credit_note_number], credit_note.credit_note_id)

    def note_contact(self, contact: Contact) -> None:
        if contact.contact_number:
            _add(self.contact_numbers[contact.contact_number], contact.contact_id)
        _add(self.contact_names[name_key(contact.name)], contact.contact_id)

    def note_payment(self, payment: Payment) -> None:
        if payment.invoice_id is not None:
            self.payments_by_invoice[payment.invoice_id].append(payment.payment_id)
        else:
            self.refunds_by_credit[payment.credit_id].append(payment.payment_id)

    def note_allocation(self, kind: str, credit_id: str, invoice_id: str) -> None:
        _add(self.credits_by_invoice[invoice_id], (kind, credit_id))


def _add(entries: list, value) -> None:
    if value not in entries:
        entries.append(value)


def name_key(name: str) -> str:
    return name.strip().casefold()


def index(book: OrgBook) -> BookIndex:
    """The book's index, built on first use."""
    if book.index is None:
        book.index = BookIndex(book)
    return book.index


# Reads (each checks the records it returns) -----------------------------------------------------


def invoices_numbered(book: OrgBook, number: str) -> list[Invoice]:
    found = (book.invoices.get(i) for i in index(book).invoice_numbers.get(number, ()))
    return [i for i in found if i is not None and i.invoice_number == number]


def in_book_order(book: OrgBook, invoices) -> list[Invoice]:
    positions = index(book).invoice_positions
    return sorted(invoices, key=lambda i: positions[i.invoice_id])


def invoices_of(book: OrgBook, contact_id: str) -> list[Invoice]:
    found = (book.invoices.get(i) for i in index(book).invoices_by_contact.get(contact_id, ()))
    return [i for i in found if i is not None and i.contact_id == contact_id]


def credit_notes_numbered(book: OrgBook, number: str) -> list[CreditNote]:
    found = (book.credit_notes.get(i) for i in index(book).credit_note_numbers.get(number, ()))
    return [c for c in found if c is not None and c.credit_note_number == number]


def contacts_numbered(book: OrgBook, number: str) -> list[Contact]:
    found = (book.contacts.get(i) for i in index(book).contact_numbers.get(number, ()))
    return [c for c in found if c is not None and c.contact_number == number]


def contacts_named(book: OrgBook, name: str) -> list[Contact]:
    key = name_key(name)
    found = (book.contacts.get(i) for i in index(book).contact_names.get(key, ()))
    return [c for c in found if c is not None and name_key(c.name) == key]


def payments_of(book: OrgBook, invoice_id: str) -> list[Payment]:
    """AUTHORISED payments against an invoice, oldest first."""
    found = (book.payments[p] for p in index(book).payments_by_invoice.get(invoice_id, ()))
    return [p for p in found if p.status == "AUTHORISED"]


def refunds_of(book: OrgBook, credit_id: str) -> list[Payment]:
    """AUTHORISED refunds of a credit note, overpayment or prepayment, oldest first."""
    found = (book.payments[p] for p in index(book).refunds_by_credit.get(credit_id, ()))
    return [p for p in found if p.status == "AUTHORISED"]


def allocations_to(book: OrgBook, kind: str, invoice_id: str) -> list[tuple]:
    """(credit, allocation) for the live allocations of ``kind`` of credit to an invoice."""
    result = []
    for credit_kind, credit_id in index(book).credits_by_invoice.get(invoice_id, ()):
        if credit_kind != kind:
            continue
        credit = book.credits(kind)[credit_id]
        result += [(credit, a) for a in credit.allocations if a.invoice_id == invoice_id and not a.is_deleted]
    return result
