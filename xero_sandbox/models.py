"""The sandbox's records: one organisation's books and the identity service's grants.

Money is ``Decimal``, dates are ``date``, timestamps are aware UTC ``datetime``. Records are plain
dataclasses so :mod:`xero_sandbox.codec` can save and load them as JSON; the Xero wire format is
produced elsewhere (``xero_sandbox.resources``).
"""
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

ZERO = Decimal("0.00")


@dataclass
class Organisation:
    organisation_id: str
    name: str
    legal_name: str
    country_code: str
    base_currency: str
    currencies: list[str]
    timezone: str
    short_code: str
    tax_number: str
    line_of_business: str
    sales_tax_basis: str
    sales_tax_period: str
    default_sales_tax: str
    default_purchases_tax: str
    created_utc: datetime
    # Set by a person in Xero (the sandbox's page or edits): documents dated on or before either are refused.
    period_lock_date: date | None = None
    end_of_year_lock_date: date | None = None
    plan: str = "STANDARD"  # Xero's Organisation "Class"; Ledger and Cashbook plans refuse invoices


@dataclass
class Account:
    account_id: str
    code: str
    name: str
    type: str
    account_class: str
    status: str = "ACTIVE"
    tax_type: str | None = None
    description: str | None = None
    bank_account_number: str | None = None
    bank_account_type: str | None = None
    currency_code: str | None = None
    enable_payments_to_account: bool = False
    system_account: str | None = None
    reporting_code: str | None = None
    updated_utc: datetime | None = None


@dataclass
class TaxRate:
    tax_type: str
    name: str
    rate: Decimal
    report_tax_type: str
    status: str = "ACTIVE"
    component_name: str = "GST"
    can_apply_to_revenue: bool = True
    can_apply_to_expenses: bool = True
    can_apply_to_assets: bool = True
    can_apply_to_liabilities: bool = True
    can_apply_to_equity: bool = True


@dataclass
class TrackingOption:
    tracking_option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass
class TrackingCategory:
    """A tracking category (Region, Plan...) and its options; at most two are ACTIVE at once."""

    tracking_category_id: str
    name: str
    status: str = "ACTIVE"
    options: list[TrackingOption] = field(default_factory=list)


@dataclass
class Contact:
    contact_id: str
    name: str
    updated_utc: datetime
    status: str = "ACTIVE"
    contact_number: str | None = None
    account_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    tax_number: str | None = None
    bank_account_details: str | None = None
    default_currency: str | None = None
    addresses: list[dict] = field(default_factory=list)
    phones: list[dict] = field(default_factory=list)
    is_customer: bool = False
    is_supplier: bool = False
    merged_to_contact_id: str | None = None


@dataclass
class LineItem:
    line_item_id: str
    description: str | None = None
    quantity: Decimal = Decimal("1")
    unit_amount: Decimal = ZERO
    account_code: str | None = None
    account_id: str | None = None
    tax_type: str | None = None
    tax_amount: Decimal = ZERO
    line_amount: Decimal = ZERO
    discount_rate: Decimal | None = None
    item_code: str | None = None
    tracking: list[dict] = field(default_factory=list)  # [{TrackingCategoryID, TrackingOptionID, Name, Option}]


@dataclass
class Invoice:
    invoice_id: str
    type: str
    contact_id: str
    status: str
    date: date
    line_amount_types: str
    currency_code: str
    currency_rate: Decimal
    created_utc: datetime
    updated_utc: datetime
    due_date: date | None = None
    invoice_number: str | None = None
    reference: str | None = None
    url: str | None = None
    sent_to_contact: bool = False
    expected_payment_date: date | None = None
    line_items: list[LineItem] = field(default_factory=list)
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    amount_paid: Decimal = ZERO
    amount_credited: Decimal = ZERO
    amount_due: Decimal = ZERO
    fully_paid_on: date | None = None


@dataclass
class Payment:
    """A payment against an invoice, or a refund of a credit note, overpayment or prepayment (then
    ``invoice_id`` is None and ``credit_kind``/``credit_id`` name the credit refunded)."""

    payment_id: str
    invoice_id: str | None
    account_id: str
    date: date
    amount: Decimal
    currency_rate: Decimal
    payment_type: str
    created_utc: datetime
    updated_utc: datetime
    status: str = "AUTHORISED"
    reference: str | None = None
    is_reconciled: bool = False
    credit_kind: str | None = None
    credit_id: str | None = None


@dataclass
class BankTransaction:
    bank_transaction_id: str
    type: str
    contact_id: str
    bank_account_id: str
    date: date
    line_amount_types: str
    currency_code: str
    currency_rate: Decimal
    created_utc: datetime
    updated_utc: datetime
    status: str = "AUTHORISED"
    reference: str | None = None
    url: str | None = None
    is_reconciled: bool = False
    line_items: list[LineItem] = field(default_factory=list)
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    overpayment_id: str | None = None
    prepayment_id: str | None = None


@dataclass
class Allocation:
    allocation_id: str
    invoice_id: str
    amount: Decimal
    date: date
    is_deleted: bool = False


@dataclass
class Credit:
    """An overpayment or a prepayment (``kind``): money held for a contact until allocated."""

    credit_id: str
    kind: str
    type: str
    contact_id: str
    date: date
    line_amount_types: str
    currency_code: str
    currency_rate: Decimal
    created_utc: datetime
    updated_utc: datetime
    bank_transaction_id: str | None = None
    status: str = "AUTHORISED"
    reference: str | None = None
    line_items: list[LineItem] = field(default_factory=list)
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    remaining_credit: Decimal = ZERO
    allocations: list[Allocation] = field(default_factory=list)


@dataclass
class CreditNote:
    """A credit note (ACCRECCREDIT to a customer, ACCPAYCREDIT from a supplier): credit that is
    allocated to invoices or refunded. Shares the allocation rules of overpayments (``kind``)."""

    credit_note_id: str
    type: str
    contact_id: str
    status: str
    date: date
    line_amount_types: str
    currency_code: str
    currency_rate: Decimal
    created_utc: datetime
    updated_utc: datetime
    credit_note_number: str | None = None
    reference: str | None = None
    due_date: date | None = None
    sent_to_contact: bool = False
    line_items: list[LineItem] = field(default_factory=list)
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    remaining_credit: Decimal = ZERO
    allocations: list[Allocation] = field(default_factory=list)
    fully_paid_on: date | None = None

    kind = "creditnote"

    @property
    def credit_id(self) -> str:
        return self.credit_note_id


@dataclass
class OrgBook:
    """Everything one organisation (tenant) holds."""

    tenant_id: str
    organisation: Organisation
    accounts: dict[str, Account] = field(default_factory=dict)
    tax_rates: dict[str, TaxRate] = field(default_factory=dict)
    tracking_categories: dict[str, TrackingCategory] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    bank_transactions: dict[str, BankTransaction] = field(default_factory=dict)
    overpayments: dict[str, Credit] = field(default_factory=dict)
    prepayments: dict[str, Credit] = field(default_factory=dict)
    credit_notes: dict[str, CreditNote] = field(default_factory=dict)
    next_invoice_number: int = 1
    next_credit_note_number: int = 1
    # Lookups by number, name and link (xero_sandbox.indexes), rebuilt on demand; never saved.
    index: object = field(default=None, repr=False, compare=False, metadata={"transient": True})

    def credits(self, kind: str) -> dict:
        """Overpayments, prepayments or credit notes: whatever holds credit of that ``kind``."""
        return {"overpayment": self.overpayments, "prepayment": self.prepayments,
                "creditnote": self.credit_notes}[kind]


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    user_id: str
    auth_event_id: str
    expires_at: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    used: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_id: str
    scopes: list[str]
    auth_event_id: str
    issued_at: float
    expires_at: float
    status: str = "active"
    rotated_at: float | None = None
    successor_response: dict | None = None


@dataclass
class Connection:
    connection_id: str
    tenant_id: str
    client_id: str
    user_id: str
    auth_event_id: str
    created_utc: datetime
    updated_utc: datetime


@dataclass
class Identity:
    """The identity service's memory: codes, refresh tokens, connections and granted scopes."""

    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    grants: dict[str, list[str]] = field(default_factory=dict)
