"""What Arena's values become in one Xero organisation: contact names that stay unique, tax rates with
the same effective rate, currencies the organisation has, and the revenue account the settings name. Pure
functions over data already read."""

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


REVENUE_TYPES = ("REVENUE", "SALES", "OTHERINCOME")


def revenue_account(code: str, chart: list[ChartAccount]) -> tuple[ChartAccount | None, str | None]:
    """The chart's account for the revenue code, or (None, why it can't be used) in the settings page's words:
    it must exist, be active and be a revenue account."""
    revenue = [a for a in chart if a.type in REVENUE_TYPES and a.status == "ACTIVE"]
    valid = ", ".join(a.code for a in revenue) or "none"
    match = next((a for a in chart if a.code.lower() == code.lower()), None)
    if match is None:
        return None, f"Xero has no account with code {code}. Revenue codes you can use: {valid}."
    if match.status != "ACTIVE":
        return None, f"Account {match.label} is archived in Xero. Use one of: {valid}."
    if match not in revenue:
        return None, f"Account {match.label} is not a revenue account. Use one of: {valid}."
    return match, None

