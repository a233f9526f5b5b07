"""Helpers shared by the resource modules: field readers, contact/account lookup, line maths."""
import copy
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ..errors import ValidationFailed
from ..indexes import contacts_named, contacts_numbered, index
from ..models import ZERO, Account, Contact, LineItem, OrgBook
from ..seed import FX_RATES
from ..wire import is_guid, ms_date, ms_datetime, new_id, parse_date, round_money, to_decimal

LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
# Xero's words when a document names an archived (or merged) contact.
ARCHIVED_CONTACT = (
    "The contact with the specified contact details has been archived. "
    "The contact must be un-archived before creating new invoices or credit notes."
)
NOT_LINE_ACCOUNT_TYPES = {"BANK"}
SYSTEM_ACCOUNTS_BARRED = {"DEBTORS", "CREDITORS", "GST"}


# Xero keeps a line's UnitAmount to 2 decimal places, and answers with 2, unless the call asks for four
# (``?unitdp=4``): api.py sets this for each call. Lines stored earlier keep what they were given.
UNIT_DP: ContextVar[int] = ContextVar("unit_dp", default=2)


@contextmanager
def unit_places(places: int):
    token = UNIT_DP.set(places)
    try:
        yield
    finally:
        UNIT_DP.reset(token)


def unit_amount_in_places(value: Decimal) -> Decimal:
    """A unit amount to the decimal places of this call (half away from zero, as Xero rounds)."""
    try:
        return value.quantize(Decimal(1).scaleb(-UNIT_DP.get()), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return value


# Webhook event categories (Xero sends events for these three kinds of record only).
INVOICE, CONTACT, CREDITNOTE = "INVOICE", "CONTACT", "CREDITNOTE"


@dataclass
class Ctx:
    """What a handler needs: the organisation's books and the sandbox's notion of now.

    ``changes`` collects the invoices, contacts and credit notes the handler created or updated, in
    order, one entry per record (a record created and then updated in one call counts as created);
    the sandbox turns them into webhook events once the call is done."""

    book: OrgBook
    now: datetime
    changes: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.date()

    def changed(self, category: str, resource_id: str, *, created: bool = False) -> None:
        key = (category, resource_id)
        if created:
            self.changes[key] = "CREATE"
        else:
            self.changes.setdefault(key, "UPDATE")


def text(data: dict, key: str, max_length: int | None = None) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a string")
    if max_length is not None and len(value) > max_length:
        raise ValidationFailed(f"{key} must not be more than {max_length} characters long")
    return value


def optional_date(data: dict, key: str) -> date | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_date(value)
    except (ValueError, AttributeError):
        raise ValidationFailed(f"{key} is not a valid date: {value!r}") from None


def optional_decimal(data: dict, key: str) -> Decimal | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return to_decimal(value, key)
    except ValueError as error:
        raise ValidationFailed(str(error)) from None


def nested(data: dict, key: str) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{key} must be an object")
    return value


def currency(ctx: Ctx, data: dict) -> tuple[str, Decimal]:
    org = ctx.book.organisation
    code = text(data, "CurrencyCode") or org.base_currency
    if code not in org.currencies:
        raise ValidationFailed(f"Organisation is not subscribed to currency {code}")
    rate = optional_decimal(data, "CurrencyRate")
    if rate is None:
        base = org.base_currency
        rate = Decimal("1.000000") if code == base else FX_RATES.get((code, base), Decimal("1"))
    return code, rate


def find_contact(book: OrgBook, ref: dict) -> Contact | None:
    """Find a contact by ContactID, else ContactNumber, else (active) Name."""
    contact_id = ref.get("ContactID")
    if contact_id:
        return book.contacts.get(str(contact_id).lower())
    number = ref.get("ContactNumber")
    if number:
        found = contacts_numbered(book, str(number))
        if found:
            return found[0]
    name = ref.get("Name")
    if name:
        return find_contact_by_name(book, name)
    return None


def find_contact_by_name(book: OrgBook, name: str, exclude: str | None = None) -> Contact | None:
    return next((c for c in contacts_named(book, name) if c.status == "ACTIVE" and c.contact_id != exclude), None)


def contact_for_document(ctx: Ctx, data: dict) -> Contact:
    """The document's contact; a Name that matches nobody yields a new (not yet stored) contact."""
    ref = nested(data, "Contact")
    if not ref:
        raise ValidationFailed("A Contact must be specified for this type of transaction")
    contact_id = ref.get("ContactID")
    if contact_id and not is_guid(contact_id):
        raise ValidationFailed(f"The ContactID '{contact_id}' is not a valid identifier")
    contact = find_contact(ctx.book, ref)
    if contact is not None:
        if contact.status != "ACTIVE":
            raise ValidationFailed(ARCHIVED_CONTACT)
        return contact
    if contact_id:
        raise ValidationFailed(f"The contact with ContactID '{contact_id}' could not be found")
    name = ref.get("Name")
    if not isinstance(name, str) or not name.strip():
        number = ref.get("ContactNumber")
        raise ValidationFailed(f"The contact with ContactNumber '{number}' could not be found")
    return Contact(
        contact_id=new_id(), name=name.strip(), updated_utc=ctx.now,
        contact_number=ref.get("ContactNumber"), email_address=ref.get("EmailAddress"),
    )


def store_contact(ctx: Ctx, contact: Contact, *, customer=False, supplier=False) -> None:
    """Insert a contact created on the fly, and flag it as customer/supplier."""
    created = changed = contact.contact_id not in ctx.book.contacts
    if customer and not contact.is_customer:
        contact.is_customer = changed = True
    if supplier and not contact.is_supplier:
        contact.is_supplier = changed = True
    if changed:
        contact.updated_utc = ctx.now
        ctx.book.contacts[contact.contact_id] = contact
        index(ctx.book).note_contact(contact)
        ctx.changed(CONTACT, contact.contact_id, created=created)


def find_account(book: OrgBook, ref: dict) -> Account | None:
    account_id = ref.get("AccountID")
    if account_id:
        return book.accounts.get(str(account_id).lower())
    code = ref.get("Code")
    if code:
        return next((a for a in book.accounts.values() if a.code == code), None)
    return None


def find_account_by_code(book: OrgBook, code: str) -> Account | None:
    return next((a for a in book.accounts.values() if a.code == code), None)


def bank_account(ctx: Ctx, data: dict, key: str) -> Account:
    ref = nested(data, key)
    if not ref:
        raise ValidationFailed(f"A {key} must be specified")
    account = find_account(ctx.book, ref)
    if account is None or account.status != "ACTIVE":
        raise ValidationFailed(f"{key} must be a valid, active account")
    return account


def build_lines(
    ctx: Ctx, data: dict, *, amounts_type: str, need_accounts: bool, no_account: bool = False
) -> list[LineItem]:
    """Parse LineItems, checking account codes and tax types; collects every line's errors."""
    raw_lines = data.get("LineItems") or []
    if not isinstance(raw_lines, list):
        raise ValidationFailed("LineItems must be a list")
    errors, lines = [], []
    for raw in raw_lines:
        try:
            lines.append(_build_line(ctx, raw, amounts_type, need_accounts, no_account))
        except ValidationFailed as failure:
            errors.extend(m for m in failure.messages if m not in errors)
    if errors:
        raise ValidationFailed(*errors)
    return lines


def _build_line(ctx, raw, amounts_type, need_accounts, no_account) -> LineItem:
    if not isinstance(raw, dict):
        raise ValidationFailed("Each line item must be an object")
    quantity = optional_decimal(raw, "Quantity")
    unit_amount = optional_decimal(raw, "UnitAmount")
    given_line_amount = optional_decimal(raw, "LineAmount")
    discount = optional_decimal(raw, "DiscountRate")
    if quantity is None:
        quantity = Decimal("1")
    if unit_amount is None:
        unit_amount = given_line_amount / quantity if given_line_amount is not None and quantity else ZERO
    else:
        unit_amount = unit_amount_in_places(unit_amount)
    gross = quantity * unit_amount
    if discount:
        gross = gross * (Decimal(100) - discount) / Decimal(100)
    line_amount = round_money(gross)
    errors = []
    account = _line_account(ctx, raw, line_amount, need_accounts, no_account, errors)
    tax_type = text(raw, "TaxType") or (account.tax_type if account else None)
    if tax_type is None and not no_account:
        tax_type = _default_tax_type(ctx)
    rate = _tax_rate(ctx, tax_type, account, errors)
    tracking = _line_tracking(ctx, raw, errors)
    if errors:
        raise ValidationFailed(*errors)
    return LineItem(
        line_item_id=_line_id(raw),
        description=text(raw, "Description"),
        quantity=quantity,
        unit_amount=unit_amount,
        account_code=account.code if account else None,
        account_id=account.account_id if account else None,
        tax_type=tax_type,
        tax_amount=_tax_amount(raw, line_amount, rate, amounts_type),
        line_amount=line_amount,
        discount_rate=discount,
        item_code=text(raw, "ItemCode"),
        tracking=tracking,
    )


MAX_TRACKING = 2  # Xero allows two active tracking categories per organisation, so two per line


def _line_tracking(ctx, raw, errors) -> list[dict]:
    """A line's Tracking: each entry names an active category (by TrackingCategoryID or Name) and one of its
    active options (by TrackingOptionID or Option), as Xero checks them."""
    given = raw.get("Tracking")
    if given in (None, []):
        return []
    if not isinstance(given, list) or not all(isinstance(t, dict) for t in given):
        errors.append("Tracking must be a list of tracking categories and options")
        return []
    if len(given) > MAX_TRACKING:
        errors.append(f"A line item can have at most {MAX_TRACKING} tracking categories")
        return []
    chosen, seen = [], set()
    for entry in given:
        category = _tracking_category(ctx.book, entry)
        shown = entry.get("Name") or entry.get("TrackingCategoryID")
        if category is None or category.status != "ACTIVE":
            errors.append(f"The tracking category '{shown}' does not exist or has been archived")
            continue
        if category.tracking_category_id in seen:
            errors.append(f"The tracking category '{category.name}' is used more than once on a line item")
            continue
        seen.add(category.tracking_category_id)
        option_id, option_name = entry.get("TrackingOptionID"), entry.get("Option")
        option = next(
            (o for o in category.options
             if (option_id and o.tracking_option_id == str(option_id).lower())
             or (not option_id and isinstance(option_name, str) and o.name.lower() == option_name.strip().lower())),
            None,
        )
        if option is None or option.status != "ACTIVE":
            errors.append(
                f"The tracking option '{option_name or option_id}' does not exist or has been archived in "
                f"tracking category '{category.name}'"
            )
            continue
        chosen.append({
            "TrackingCategoryID": category.tracking_category_id, "TrackingOptionID": option.tracking_option_id,
            "Name": category.name, "Option": option.name,
        })
    return chosen


def _tracking_category(book, entry: dict):
    category_id, name = entry.get("TrackingCategoryID"), entry.get("Name")
    if category_id:
        return book.tracking_categories.get(str(category_id).lower())
    if isinstance(name, str):
        return next((c for c in book.tracking_categories.values() if c.name.lower() == name.strip().lower()), None)
    return None


def _line_id(raw) -> str:
    given = raw.get("LineItemID")
    return str(given).lower() if given and is_guid(given) else new_id()


def _line_account(ctx, raw, line_amount, need_accounts, no_account, errors) -> Account | None:
    code = raw.get("AccountCode")
    account_id = raw.get("AccountID")
    if no_account:
        if code or account_id:
            errors.append(
                "Overpayment line items must not have an AccountCode; Xero books overpayments to Accounts Receivable"
            )
        return None
    if not code and not account_id:
        if need_accounts and line_amount != 0:
            errors.append("Account code must be specified on each line item")
        return None
    account = find_account_by_code(ctx.book, str(code)) if code else ctx.book.accounts.get(str(account_id).lower())
    if account is None or not _usable_on_lines(account):
        errors.append(f"Account code '{code or account_id}' is not a valid code for this document.")
        return None
    return account


def _usable_on_lines(account: Account) -> bool:
    return (
        account.status == "ACTIVE"
        and account.type not in NOT_LINE_ACCOUNT_TYPES
        and account.system_account not in SYSTEM_ACCOUNTS_BARRED
    )


def _default_tax_type(ctx: Ctx) -> str | None:
    zero_rated = [r for r in ctx.book.tax_rates.values() if r.rate == 0 and r.status == "ACTIVE"]
    return zero_rated[0].tax_type if zero_rated else None


def _tax_rate(ctx, tax_type, account, errors) -> Decimal:
    if tax_type is None:
        return ZERO
    rate = ctx.book.tax_rates.get(tax_type)
    unusable = rate is None or rate.status != "ACTIVE"
    if rate is not None and account is not None:
        if account.account_class == "REVENUE" and not rate.can_apply_to_revenue:
            unusable = True
        if account.account_class == "EXPENSE" and not rate.can_apply_to_expenses:
            unusable = True
    if unusable:
        errors.append(f"The TaxType code {tax_type} does not exist or cannot be used for this type of transaction.")
        return ZERO
    return rate.rate


def _tax_amount(raw, line_amount, rate, amounts_type) -> Decimal:
    if amounts_type == "NoTax":
        return ZERO
    explicit = optional_decimal(raw, "TaxAmount")
    if explicit is not None:
        return round_money(explicit)
    if amounts_type == "Inclusive":
        return round_money(line_amount * rate / (Decimal(100) + rate))
    return round_money(line_amount * rate / Decimal(100))


def totals(lines: list[LineItem], amounts_type: str) -> tuple[Decimal, Decimal, Decimal]:
    """(SubTotal, TotalTax, Total) as Xero computes them for the given LineAmountTypes."""
    line_sum = sum((line.line_amount for line in lines), ZERO)
    tax = sum((line.tax_amount for line in lines), ZERO)
    if amounts_type == "Inclusive":
        return line_sum - tax, tax, line_sum
    return line_sum, tax, line_sum + tax


def amounts_type(data: dict, default: str = "Exclusive") -> str:
    value = data.get("LineAmountTypes") or default
    if value not in LINE_AMOUNT_TYPES:
        raise ValidationFailed(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}")
    return value


def line_json(line: LineItem) -> dict:
    body = {
        "LineItemID": line.line_item_id,
        "Description": line.description or "",
        "Quantity": line.quantity,
        "UnitAmount": unit_amount_in_places(line.unit_amount),
        "TaxAmount": line.tax_amount,
        "LineAmount": line.line_amount,
        "Tracking": [dict(t) for t in line.tracking],
    }
    if line.account_code:
        body["AccountCode"] = line.account_code
        body["AccountID"] = line.account_id
    if line.tax_type:
        body["TaxType"] = line.tax_type
    if line.discount_rate is not None:
        body["DiscountRate"] = line.discount_rate
    if line.item_code:
        body["ItemCode"] = line.item_code
    return body


def contact_ref_json(contact: Contact | None) -> dict:
    """The contact as embedded in invoices, payments and bank transactions."""
    if contact is None:
        return {}
    body = {
        "ContactID": contact.contact_id,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }
    if contact.contact_number:
        body["ContactNumber"] = contact.contact_number
    if contact.email_address:
        body["EmailAddress"] = contact.email_address
    return body


def account_ref_json(account: Account | None) -> dict:
    if account is None:
        return {}
    return {"AccountID": account.account_id, "Code": account.code, "Name": account.name}


def maybe_date(value: date | None) -> str | None:
    return ms_date(value) if value else None


def stamp(value: datetime) -> str:
    return ms_datetime(value)


def drop_none(body: dict) -> dict:
    return {key: value for key, value in body.items() if value is not None}


DATE_KEYS = {"Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate", "FullyPaidOnDate"}
NUMBER_KEYS = {
    "Quantity", "UnitAmount", "LineAmount", "TaxAmount", "DiscountRate", "Amount", "CurrencyRate",
    "SubTotal", "TotalTax", "Total", "AmountDue", "AmountPaid", "AmountCredited", "RemainingCredit",
}
DROP_KEYS = {"UpdatedDateUTC", "HasAttachments", "ValidationErrors", "StatusAttributeString", "Warnings"}


def echo(data, enums: dict[str, tuple] | None = None):
    """A failed element as Xero sends it back: the input, tidied so every client can parse it."""
    enums = enums or {}
    if isinstance(data, list):
        return [echo(item, enums) for item in data]
    if not isinstance(data, dict):
        return data
    result = {}
    for key, value in copy.deepcopy(data).items():
        if key in DROP_KEYS:
            continue
        if key in DATE_KEYS:
            try:
                result[key] = ms_date(parse_date(value))
            except (ValueError, AttributeError, TypeError):
                continue
        elif key in NUMBER_KEYS:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                result[key] = value
        elif key in enums:
            if value in enums[key]:
                result[key] = value
        else:
            result[key] = echo(value, enums)
    return result


class Problems:
    """Collects the messages of several checks so one response lists them all, as Xero does."""

    def __init__(self):
        self.messages: list[str] = []

    def attempt(self, fn, *args, default=None, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationFailed as failure:
            for message in failure.messages:
                self.add(message)
            return default

    def add(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)

    def check(self) -> None:
        if self.messages:
            raise ValidationFailed(*self.messages)
