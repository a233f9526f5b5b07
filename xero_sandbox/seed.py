"""The organisations a fresh sandbox starts with: an Australian and a New Zealand company, and for
benchmarks as many more as asked for ("Organisation 3".."Organisation N", copies of Organisation 1's
Australian settings).

Ids are fixed (uuid5 of a name) so they stay the same across resets and restarts. The regions
differ on purpose: tax types (OUTPUT vs OUTPUT2) and currencies must be read, not hard-coded.
"""
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from .models import Account, Organisation, OrgBook, TaxRate, TrackingCategory, TrackingOption

NAMESPACE = uuid.UUID("6f1c2b0a-3d4e-4f5a-8b6c-7d8e9f0a1b2c")

ORG1_TENANT_ID = "a3c2e0f6-6d7b-4c1e-9f3a-1b2c3d4e5f60"
ORG2_TENANT_ID = "b7d4f1a8-2e9c-4a5b-8c6d-2e3f4a5b6c71"

USER_ID = "5a1c8e4e-2b7f-4d3a-9e6c-0f1a2b3c4d5e"
USER_SUB = "d6f0c2a9b8e74f5d9c3b2a1e0f9d8c7b"
USER_EMAIL = "demo@example.com"
USER_GIVEN_NAME = "Demo"
USER_FAMILY_NAME = "User"

CREATED = datetime(2023, 7, 1, 9, 30, tzinfo=timezone.utc)

CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "NZD": "New Zealand Dollar",
    "USD": "United States Dollar",
    "GBP": "British Pound",
}

# Indicative rates to each base currency, used only to fill CurrencyRate.
FX_RATES = {("NZD", "AUD"): Decimal("0.920000"), ("AUD", "NZD"): Decimal("1.087000")}

ACCOUNT_CLASSES = {
    "BANK": "ASSET", "CURRENT": "ASSET", "FIXED": "ASSET", "INVENTORY": "ASSET",
    "NONCURRENT": "ASSET", "PREPAYMENT": "ASSET",
    "CURRLIAB": "LIABILITY", "LIABILITY": "LIABILITY", "TERMLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
    "REVENUE": "REVENUE", "SALES": "REVENUE", "OTHERINCOME": "REVENUE",
    "EXPENSE": "EXPENSE", "OVERHEADS": "EXPENSE", "DIRECTCOSTS": "EXPENSE", "DEPRECIATN": "EXPENSE",
}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _account(tenant_id, code, name, type_, tax_type, **extra) -> Account:
    return Account(
        account_id=_id(tenant_id, "account", code),
        code=code,
        name=name,
        type=type_,
        account_class=ACCOUNT_CLASSES[type_],
        tax_type=tax_type,
        updated_utc=CREATED,
        **extra,
    )


def _org1() -> OrgBook:
    return _australian(ORG1_TENANT_ID, "Organisation 1", short_code="!a1B2c")


def tenant_id_of(number: int) -> str:
    """The fixed tenant id of "Organisation <number>" (1 and 2 are the seeded ones above)."""
    return {1: ORG1_TENANT_ID, 2: ORG2_TENANT_ID}.get(number) or _id("organisation", str(number))


def extra_organisation(number: int) -> OrgBook:
    """"Organisation <number>" (3 and up): Organisation 1's Australian settings under its own tenant id."""
    if number < 3:
        raise ValueError("Organisations 1 and 2 are always seeded; extra ones are numbered from 3")
    return _australian(tenant_id_of(number), f"Organisation {number}", short_code=f"!b{number:05d}")


def _australian(tid: str, name: str, *, short_code: str) -> OrgBook:
    org = Organisation(
        organisation_id=tid, name=name, legal_name=f"{name} Pty Ltd",
        country_code="AU", base_currency="AUD", currencies=["AUD", "NZD"],
        timezone="AUSEASTERNSTANDARDTIME", short_code=short_code, tax_number="12 345 678 901",
        line_of_business="Software services", sales_tax_basis="ACCRUALS", sales_tax_period="QUARTERLY1",
        default_sales_tax="Tax Exclusive", default_purchases_tax="Tax Inclusive", created_utc=CREATED,
    )
    rates = [
        TaxRate("OUTPUT", "GST on Income", Decimal("10.0000"), "OUTPUT", can_apply_to_expenses=False),
        TaxRate("EXEMPTOUTPUT", "GST Free Income", Decimal("0.0000"), "EXEMPTOUTPUT", can_apply_to_expenses=False),
        TaxRate("INPUT", "GST on Expenses", Decimal("10.0000"), "INPUT", can_apply_to_revenue=False),
        TaxRate("BASEXCLUDED", "BAS Excluded", Decimal("0.0000"), "BASEXCLUDED"),
        TaxRate("EXEMPTEXPENSES", "GST Free Expenses", Decimal("0.0000"), "EXEMPTEXPENSES", can_apply_to_revenue=False),
    ]
    accounts = [
        _account(tid, "090", "Business Bank Account", "BANK", "BASEXCLUDED",
                 bank_account_number="082-123 45678901", bank_account_type="BANK", currency_code="AUD"),
        _account(tid, "091", "Business Savings Account", "BANK", "BASEXCLUDED",
                 bank_account_number="082-123 45678902", bank_account_type="BANK", currency_code="AUD"),
        _account(tid, "092", "Card Clearing", "BANK", "BASEXCLUDED", description="Card payments until settled",
                 bank_account_number="CLEARING-CARD", bank_account_type="BANK", currency_code="AUD"),
        _account(tid, "200", "Sales", "REVENUE", "OUTPUT", description="Income from any normal business activity"),
        _account(tid, "201", "NBN Revenue", "REVENUE", "OUTPUT", description="Broadband plans"),
        _account(tid, "202", "Mobile Revenue", "REVENUE", "OUTPUT", description="Mobile plans"),
        _account(tid, "203", "Hardware Sales", "SALES", "OUTPUT", description="Modems and handsets"),
        _account(tid, "260", "Other Revenue", "REVENUE", "OUTPUT", description="Any other income"),
        _account(tid, "270", "Interest Income", "REVENUE", "EXEMPTOUTPUT", description="Interest income"),
        _account(tid, "210", "Old Sales", "REVENUE", "OUTPUT", status="ARCHIVED"),
        _account(tid, "400", "Advertising", "EXPENSE", "INPUT", description="Expenses incurred for advertising"),
        _account(tid, "404", "Bank Fees", "EXPENSE", "EXEMPTEXPENSES", description="Gateway and bank fees"),
        _account(tid, "610", "Accounts Receivable", "CURRENT", "BASEXCLUDED", system_account="DEBTORS"),
        _account(tid, "800", "Accounts Payable", "CURRLIAB", "BASEXCLUDED", system_account="CREDITORS"),
        _account(tid, "820", "GST", "CURRLIAB", "BASEXCLUDED", system_account="GST"),
    ]
    return _book(tid, org, rates, accounts)


def _org2() -> OrgBook:
    tid = ORG2_TENANT_ID
    org = Organisation(
        organisation_id=tid, name="Organisation 2", legal_name="Organisation 2 Limited",
        country_code="NZ", base_currency="NZD", currencies=["NZD", "AUD"],
        timezone="NEWZEALANDSTANDARDTIME", short_code="!z9Y8x", tax_number="123-456-789",
        line_of_business="Consulting", sales_tax_basis="INVOICE", sales_tax_period="2MONTHLY",
        default_sales_tax="Tax Exclusive", default_purchases_tax="Tax Inclusive", created_utc=CREATED,
    )
    rates = [
        TaxRate("OUTPUT2", "15% GST on Income", Decimal("15.0000"), "OUTPUT", can_apply_to_expenses=False),
        TaxRate("INPUT2", "15% GST on Expenses", Decimal("15.0000"), "INPUT", can_apply_to_revenue=False),
        TaxRate("NONE", "No GST", Decimal("0.0000"), "NONE"),
        TaxRate("ZERORATED", "Zero Rated", Decimal("0.0000"), "OUTPUT", can_apply_to_expenses=False),
        TaxRate("EXEMPTINPUT", "Zero Rated Expenses", Decimal("0.0000"), "INPUT", can_apply_to_revenue=False),
    ]
    accounts = [
        _account(tid, "090", "Business Bank Account", "BANK", "NONE",
                 bank_account_number="12-3456-7890123-00", bank_account_type="BANK", currency_code="NZD"),
        _account(tid, "091", "Business Savings Account", "BANK", "NONE",
                 bank_account_number="12-3456-7890123-01", bank_account_type="BANK", currency_code="NZD"),
        _account(tid, "200", "Sales", "REVENUE", "OUTPUT2", description="Income from any normal business activity"),
        _account(tid, "260", "Other Revenue", "REVENUE", "OUTPUT2", description="Any other income"),
        _account(tid, "270", "Interest Income", "REVENUE", "NONE", description="Interest income"),
        _account(tid, "210", "Old Sales", "REVENUE", "OUTPUT2", status="ARCHIVED"),
        _account(tid, "092", "Card Clearing", "BANK", "NONE", description="Card payments until settled",
                 bank_account_number="CLEARING-CARD", bank_account_type="BANK", currency_code="NZD"),
        _account(tid, "201", "Broadband Revenue", "REVENUE", "OUTPUT2", description="Broadband plans"),
        _account(tid, "400", "Advertising", "EXPENSE", "INPUT2", description="Expenses incurred for advertising"),
        _account(tid, "404", "Bank Fees", "EXPENSE", "NONE", description="Gateway and bank fees"),
        _account(tid, "610", "Accounts Receivable", "CURRENT", "NONE", system_account="DEBTORS"),
        _account(tid, "800", "Accounts Payable", "CURRLIAB", "NONE", system_account="CREDITORS"),
        _account(tid, "820", "GST", "CURRLIAB", "NONE", system_account="GST"),
    ]
    return _book(tid, org, rates, accounts)


# Two active tracking categories (Xero's most) and an archived one; each with an archived option.
TRACKING = {
    "Region": ["NSW", "VIC", "QLD", "WA", ("TAS", "ARCHIVED")],
    "Plan": ["Residential", "Business", ("Legacy", "ARCHIVED")],
    ("Department", "ARCHIVED"): ["Sales"],
}


def _tracking(tenant_id: str) -> dict[str, TrackingCategory]:
    categories = []
    for category, options in TRACKING.items():
        name, status = category if isinstance(category, tuple) else (category, "ACTIVE")
        categories.append(TrackingCategory(
            tracking_category_id=_id(tenant_id, "tracking", name), name=name, status=status,
            options=[
                TrackingOption(_id(tenant_id, "tracking", name, o), o, s)
                for o, s in (option if isinstance(option, tuple) else (option, "ACTIVE") for option in options)
            ],
        ))
    return {c.tracking_category_id: c for c in categories}


def _book(tenant_id, org, rates, accounts) -> OrgBook:
    return OrgBook(
        tenant_id=tenant_id,
        organisation=org,
        accounts={a.account_id: a for a in accounts},
        tax_rates={r.tax_type: r for r in rates},
        tracking_categories=_tracking(tenant_id),
    )


def seed_books(organisations: int = 2) -> dict[str, OrgBook]:
    """Fresh books for every seeded organisation, keyed by tenant id, in consent-page order: the two
    above, then Organisation 3 up to ``organisations``."""
    books = [_org1(), _org2()] + [extra_organisation(n) for n in range(3, organisations + 1)]
    return {book.tenant_id: book for book in books}
