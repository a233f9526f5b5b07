"""What Arena's values become in one Xero organisation: contact names that stay unique, tax rates with
the same effective rate, currencies the organisation has, and whether it takes the settings page's revenue
code and bank account. Pure functions over data already read."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ..connection import ChartAccount
from ..errors import MappingError

CONTACT_NAME_MAX = 255


@dataclass(frozen=True)
class NameHolder:
    """Another customer of the whitelabel with the same name, and the name its contact has in Xero."""

    customer_id: int
    name_in_xero: str  # "" if its contact isn't in this organisation yet


def normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


def contact_name(*, customer_id: int, name: str, account_number: str, own_name_in_xero: str, peers: list[NameHolder]):
    """The customer's contact name in Xero.

    Xero requires contact names to be unique and merges contacts it matches by name, so two customers
    called "John Smith" must not both be "John Smith". The rule: the plain name, unless another
    customer with the same name already holds it in Xero, or came first (lower id) and doesn't hold
    another name; then "John Smith (C-1042)". A customer keeps the plain name once it holds it.
    """
    plain = " ".join(name.split())
    if not peers or normalised(own_name_in_xero) == normalised(plain):
        return plain[:CONTACT_NAME_MAX]
    taken = any(normalised(p.name_in_xero) == normalised(plain) for p in peers) or any(
        p.customer_id < customer_id and not p.name_in_xero for p in peers
    )
    if not taken:
        return plain[:CONTACT_NAME_MAX]
    suffix = f" ({account_number})"
    return plain[: CONTACT_NAME_MAX - len(suffix)].rstrip() + suffix


@dataclass(frozen=True)
class TaxRate:
    tax_type: str
    name: str
    rate: Decimal
    for_revenue: bool
    for_expenses: bool
    active: bool


def tax_rates_from_xero(rows: Iterable[dict]) -> list[TaxRate]:
    return [
        TaxRate(
            tax_type=row.get("TaxType") or "",
            name=row.get("Name") or "",
            rate=Decimal(str(row.get("EffectiveRate") or 0)).normalize(),
            for_revenue=row.get("CanApplyToRevenue") is not False,
            for_expenses=row.get("CanApplyToExpenses") is not False,
            active=(row.get("Status") or "ACTIVE") == "ACTIVE",
        )
        for row in rows
        if row.get("TaxType")
    ]


def tax_type(*, rate: Decimal, account_tax_type: str, rates: list[TaxRate], organisation: str) -> str:
    """The Xero tax type for an Arena line taxed at `rate` percent on the revenue account.

    The account's own tax type when its rate matches; else another active sales tax rate with the same
    effective rate, sales-only rates first (0%: "GST Free Income" before "BAS Excluded"); else
    MappingError naming the rate to create. Never a tax type whose rate contradicts the tax Arena charged.
    """
    wanted = Decimal(rate).normalize()
    usable = [r for r in rates if r.active and r.for_revenue and r.rate == wanted]
    own = next((r for r in usable if r.tax_type == account_tax_type), None)
    if own is not None:
        return own.tax_type
    if usable:
        return sorted(usable, key=lambda r: (r.for_expenses, r.name, r.tax_type))[0].tax_type
    percent = f"{wanted:f}".rstrip("0").rstrip(".") if "." in f"{wanted:f}" else f"{wanted:f}"
    raise MappingError(
        f"{organisation} has no active tax rate of {percent}% for sales, which this invoice charges. "
        f"Create one in Xero (Accounting > Advanced > Tax rates), then resync."
    )


def currency_check(*, currency: str, enabled: Iterable[str], organisation: str) -> None:
    if currency not in set(enabled):
        raise MappingError(
            f"{organisation} does not have the currency {currency}. Add it in Xero (Accounting > Advanced > "
            f"Currencies), then resync."
        )


# The Accounting System Settings page's accounts ------------------------------------------------------


REVENUE_TYPES = ("REVENUE", "SALES", "OTHERINCOME")
# Each account the page names: its label there, what to use instead, and what is said when it is empty.
SETTINGS = {
    "revenue_code": ("Revenue code", "Revenue codes", "No revenue code is set on the Accounting System Settings page."),
    "bank_account_code": (
        "Bank account",
        "Bank accounts",
        "Choose the Xero bank account on the Accounting System Settings page.",
    ),
}


def setting_problem(field: str, code: str, chart: Iterable[ChartAccount]) -> str | None:
    """Why Xero would refuse `code` as the settings page's `field` ("revenue_code": an active revenue account;
    "bank_account_code": an active bank account), in the words the page shows under the field; None if it
    takes it."""
    wanted = "revenue" if field == "revenue_code" else "bank"
    types = REVENUE_TYPES if wanted == "revenue" else ("BANK",)
    chart = list(chart)
    usable = [a for a in chart if a.status == "ACTIVE" and a.type in types]
    valid = ", ".join(a.code for a in usable) or "none"
    match = next((a for a in chart if a.code.lower() == code.lower()), None)
    if match is None:
        return f"Xero has no account with code {code}. {SETTINGS[field][1]} you can use: {valid}."
    if match.status != "ACTIVE":
        return f"Account {match.label} is archived in Xero. Use one of: {valid}."
    if match not in usable:
        return f"Account {match.label} is not a {wanted} account. Use one of: {valid}."
    return None


def setting_refusal(*, field: str, code: str, chart: Iterable[ChartAccount], organisation: str) -> str:
    """Why a record that needs the settings page's `field` can't be sent: the setting is empty, or Xero would
    refuse it. Names the setting and its code as the page does; "" when the record may go."""
    label, _, missing = SETTINGS[field]
    if not code:
        return missing
    problem = setting_problem(field, code, chart)
    if problem is None:
        return ""
    return f"{label} {code} on the Accounting System Settings page can't be used with {organisation}: {problem}"
