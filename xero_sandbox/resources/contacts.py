"""Contacts: create (unique active Name and ContactNumber), update-or-create, balances."""
from ..errors import ValidationFailed
from ..indexes import contacts_numbered, index, invoices_of
from ..models import ZERO, Contact, OrgBook
from ..wire import is_guid, new_id
from .common import CONTACT, Ctx, Problems, drop_none, find_contact, find_contact_by_name, stamp, text

STATUSES = ("ACTIVE", "ARCHIVED")
ENUMS = {"ContactStatus": STATUSES + ("GDPRREQUEST",)}
SIMPLE_FIELDS = {
    "AccountNumber": ("account_number", 50),
    "FirstName": ("first_name", 255),
    "LastName": ("last_name", 255),
    "EmailAddress": ("email_address", 255),
    "TaxNumber": ("tax_number", 50),
    "BankAccountDetails": ("bank_account_details", None),
}


def create_contact(ctx: Ctx, data: dict) -> Contact:
    """PUT semantics: a new contact; an existing ContactID is updated instead."""
    if data.get("ContactID"):
        existing = _by_id(ctx.book, data["ContactID"])
        return update_contact(ctx, existing, data)
    return _create(ctx, data)


def upsert_contact(ctx: Ctx, data: dict) -> Contact:
    """POST semantics: match by ContactID, else ContactNumber, else Name; create when none match."""
    if data.get("ContactID"):
        return update_contact(ctx, _by_id(ctx.book, data["ContactID"]), data)
    existing = find_contact(ctx.book, {"ContactNumber": data.get("ContactNumber"), "Name": data.get("Name")})
    if existing is not None:
        return update_contact(ctx, existing, data)
    return _create(ctx, data)


def _by_id(book: OrgBook, contact_id) -> Contact:
    contact = book.contacts.get(str(contact_id).lower()) if is_guid(contact_id) else None
    if contact is None:
        raise ValidationFailed(f"The contact with ContactID '{contact_id}' could not be found")
    return contact


def _create(ctx: Ctx, data: dict) -> Contact:
    problems = Problems()
    name = problems.attempt(text, data, "Name", 255)
    if not name or not name.strip():
        problems.add("The contact name must be specified.")
    contact = Contact(contact_id=new_id(), name=(name or "").strip(), updated_utc=ctx.now)
    problems.attempt(_apply_fields, ctx, contact, data)
    problems.check()
    ctx.book.contacts[contact.contact_id] = contact
    index(ctx.book).note_contact(contact)
    ctx.changed(CONTACT, contact.contact_id, created=True)
    return contact


def update_contact(ctx: Ctx, contact: Contact, data: dict) -> Contact:
    problems = Problems()
    updated = Contact(**{**contact.__dict__, "addresses": list(contact.addresses), "phones": list(contact.phones)})
    name = problems.attempt(text, data, "Name", 255)
    if name is not None:
        if not name.strip():
            problems.add("The contact name must be specified.")
        updated.name = name.strip()
    problems.attempt(_apply_fields, ctx, updated, data)
    problems.check()
    updated.updated_utc = ctx.now
    contact.__dict__.update(updated.__dict__)
    index(ctx.book).note_contact(contact)
    ctx.changed(CONTACT, contact.contact_id)
    return contact


def _apply_fields(ctx: Ctx, contact: Contact, data: dict) -> None:
    problems = Problems()
    for key, (attr, limit) in SIMPLE_FIELDS.items():
        if key in data:
            setattr(contact, attr, problems.attempt(text, data, key, limit))
    if "ContactNumber" in data:
        contact.contact_number = problems.attempt(text, data, "ContactNumber", 50) or None
    status = data.get("ContactStatus")
    if status is not None:
        if status not in STATUSES:
            problems.add(f"ContactStatus must be one of {', '.join(STATUSES)}")
        else:
            contact.status = status
    currency = data.get("DefaultCurrency")
    if currency is not None:
        if currency not in ctx.book.organisation.currencies:
            problems.add(f"Organisation is not subscribed to currency {currency}")
        contact.default_currency = currency
    for key, attr in (("Addresses", "addresses"), ("Phones", "phones")):
        if key in data:
            value = data[key]
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                problems.add(f"{key} must be a list of objects")
            else:
                setattr(contact, attr, value)
    problems.check()
    _check_unique(ctx.book, contact)


def _check_unique(book: OrgBook, contact: Contact) -> None:
    problems = Problems()
    if contact.status == "ACTIVE" and find_contact_by_name(book, contact.name, exclude=contact.contact_id):
        problems.add(
            f"The contact name {contact.name} is already assigned to another contact. "
            "The contact name must be unique across all active contacts."
        )
    if contact.contact_number:
        clash = next(
            (c for c in contacts_numbered(book, contact.contact_number) if c.contact_id != contact.contact_id), None
        )
        if clash:
            problems.add(
                f"The contact number {contact.contact_number} is already assigned to another contact. "
                "The contact number must be unique across all contacts."
            )
    problems.check()


def get_contact(book: OrgBook, identifier: str) -> Contact | None:
    """By ContactID, or by ContactNumber when the identifier is not a GUID."""
    if is_guid(identifier):
        return book.contacts.get(identifier.lower())
    found = contacts_numbered(book, identifier)
    return found[0] if found else None


BALANCE_KEYS = {"ACCREC": "AccountsReceivable", "ACCPAY": "AccountsPayable"}


def balances_by_contact(book: OrgBook, today) -> dict[str, dict]:
    """Outstanding and overdue amounts of AUTHORISED invoices, per contact id (for many contacts)."""
    result: dict[str, dict] = {}
    for invoice in book.invoices.values():
        _add_balance(result, invoice, today)
    return result


def balances_of(book: OrgBook, contact_id: str, today) -> dict:
    """The same for one contact, from its own invoices only."""
    result: dict[str, dict] = {}
    for invoice in invoices_of(book, contact_id):
        _add_balance(result, invoice, today)
    return result.get(contact_id) or _empty_balances()


def _add_balance(result: dict, invoice, today) -> None:
    if invoice.status != "AUTHORISED" or invoice.type not in BALANCE_KEYS:
        return
    contact = result.setdefault(invoice.contact_id, _empty_balances())
    totals = contact[BALANCE_KEYS[invoice.type]]
    totals["Outstanding"] += invoice.amount_due
    if invoice.due_date and invoice.due_date < today:
        totals["Overdue"] += invoice.amount_due


def _empty_balances() -> dict:
    return {key: {"Outstanding": ZERO, "Overdue": ZERO} for key in BALANCE_KEYS.values()}


def contact_json(book: OrgBook, contact: Contact, today, balances: dict | None = None) -> dict:
    """A contact; ``balances`` (from balances_by_contact) saves work when rendering many."""
    own = balances.get(contact.contact_id) if balances is not None else balances_of(book, contact.contact_id, today)
    return drop_none({
        "ContactID": contact.contact_id,
        "MergedToContactID": contact.merged_to_contact_id,
        "ContactNumber": contact.contact_number,
        "AccountNumber": contact.account_number,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "FirstName": contact.first_name,
        "LastName": contact.last_name,
        "EmailAddress": contact.email_address,
        "BankAccountDetails": contact.bank_account_details,
        "TaxNumber": contact.tax_number,
        "Addresses": contact.addresses,
        "Phones": contact.phones,
        "UpdatedDateUTC": stamp(contact.updated_utc),
        "ContactGroups": [],
        "IsSupplier": contact.is_supplier,
        "IsCustomer": contact.is_customer,
        "DefaultCurrency": contact.default_currency,
        "Balances": own or _empty_balances(),
        "ContactPersons": [],
        "HasAttachments": False,
        "HasValidationErrors": False,
    })
