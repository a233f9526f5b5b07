"""Reading and changing a whitelabel's Xero mapping (issue 20), validated against the connected
organisation: a category's account must exist, be active and be revenue (the settings page's revenue-code
check), its tracking categories and options exist and be active; a tax rate's tax type be active, for sales
and of that rate; a payment method's account an active bank (or clearing) account and its fee account an
active expense account. A refused change saves nothing and says which values are valid.

The settings page's Mapping section and `manage.py xero_mapping` call these; the sync reads the mapping at
send time (sync/coding.py), so a change applies to records not yet sent.
"""

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from payments.models import CATEGORY_MAX, CreditNoteLine, InvoiceLine, Payment, Whitelabel

from .connection import ChartAccount, chart_of_accounts, tax_rates, tracking_categories, whitelabel_connection
from .errors import MappingError, MappingRefused, NotConnected
from .mapping_models import CategoryMapping, MappingOptions, MethodMapping, TaxMapping
from .models import AccountingSettings, XeroConnection
from .sync import coding, mapping
from .xero.errors import XeroError

CSV_FIELDS = ("kind", "key", "account", "fee_account", "tax_type", "tracking")
DEFAULT_RATES = (Decimal("10"), Decimal("0"))


@dataclass
class Organisation:
    """What the connected organisation offers a mapping."""

    name: str
    chart: list[ChartAccount]
    rates: list[mapping.TaxRate]
    tracking: list[dict]


def organisation_options(whitelabel: Whitelabel, *, fresh: bool = False) -> Organisation:
    """The connected organisation's chart, tax rates and tracking categories (cached per organisation)."""
    connection = whitelabel_connection(whitelabel)
    if connection is None or not connection.tenant_id:
        raise MappingRefused(f"{whitelabel} is not connected to Xero: connect it on the settings page first.")
    try:
        return Organisation(
            name=connection.tenant_name,
            chart=chart_of_accounts(connection, fresh=fresh),
            rates=mapping.tax_rates_from_xero(tax_rates(connection, fresh=fresh)),
            tracking=tracking_categories(connection, fresh=fresh),
        )
    except (NotConnected, XeroError) as exc:
        raise MappingRefused(f"Xero's accounts for {whitelabel} can't be read now: {exc}") from None


def parse_tracking(values: list[str]) -> list[dict]:
    """"Region:NSW" -> {"Name": "Region", "Option": "NSW"}."""
    result = []
    for value in values:
        name, sep, option = (value or "").partition(":")
        if not sep or not name.strip() or not option.strip():
            raise MappingRefused(f"Tracking {value!r} must be written Category:Option, e.g. Region:NSW.")
        result.append({"Name": name.strip(), "Option": option.strip()})
    return result


def _category(value: str) -> str:
    code = (value or "").strip()
    if not code or len(code) > CATEGORY_MAX or code != code.lower() or not all(
        c.isascii() and (c.isalnum() or c in "-_") for c in code
    ):
        raise MappingRefused(
            f"Category {value!r} must be a short code of lower-case letters, digits, - or _, such as 'nbn'."
        )
    return code


def _rate(value) -> Decimal:
    try:
        rate = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        raise MappingRefused(f"Tax rate {value!r} must be a percentage such as 10 or 0.") from None
    if not rate.is_finite() or not Decimal("0") <= rate <= Decimal("100") or rate != rate.quantize(Decimal("0.01")):
        raise MappingRefused(f"Tax rate {value!r} must be a percentage from 0 to 100, e.g. 10 or 0.")
    return rate.quantize(Decimal("0.01"))


def _method(value: str) -> str:
    if value not in Payment.Method.values:
        raise MappingRefused(f"Unknown payment method {value!r}. Payment methods: {', '.join(Payment.Method.values)}.")
    return value


def _code(chart: list[ChartAccount], code: str) -> str:
    """The code as Xero spells it."""
    return next((a.code for a in chart if a.code.lower() == code.lower()), code)


def _checked_category(org: Organisation, category: str, account: str, tracking: list[dict]) -> dict:
    category = _category(category)
    if not account:
        raise MappingRefused(f"Category {category} needs an account, e.g. account=201.")
    if problem := coding.revenue_account_problem(account, org.chart):
        raise MappingRefused(f"Category {category}: {problem}")
    if problem := coding.tracking_problem(tracking, org.tracking):
        raise MappingRefused(f"Category {category}: {problem}")
    return {
        "category": category,
        "account_code": _code(org.chart, account),
        "tracking": coding.canonical_tracking(tracking, org.tracking),
    }


def _checked_tax(org: Organisation, tax_rate, tax_type: str) -> dict:
    rate = _rate(tax_rate)
    if not tax_type:
        raise MappingRefused(f"Tax rate {coding.percent(rate)}% needs a tax type, e.g. tax_type=OUTPUT.")
    if problem := coding.tax_type_problem(tax_type, rate, org.rates):
        raise MappingRefused(f"Tax rate {coding.percent(rate)}%: {problem}")
    match = next(r for r in org.rates if r.tax_type.lower() == tax_type.lower())
    return {"tax_rate": rate, "tax_type": match.tax_type}


def _checked_method(org: Organisation, method: str, account: str, fee_account: str) -> dict:
    method = _method(method)
    if not account:
        raise MappingRefused(f"Payment method {method} needs an account, e.g. account=092.")
    if problem := coding.deposit_account_problem(account, org.chart):
        raise MappingRefused(f"Payment method {method}: {problem}")
    if fee_account and (problem := coding.fee_account_problem(fee_account, org.chart)):
        raise MappingRefused(f"Payment method {method}, fee account: {problem}")
    return {
        "method": method,
        "account_code": _code(org.chart, account),
        "fee_account_code": _code(org.chart, fee_account) if fee_account else "",
    }


def mapping_set_category(*, whitelabel: Whitelabel, category: str, account: str, tracking=(), org=None):
    values = _checked_category(org or organisation_options(whitelabel), category, account, list(tracking))
    mapped, _ = CategoryMapping.objects.update_or_create(
        whitelabel=whitelabel, category=values.pop("category"), defaults=values
    )
    return mapped


def mapping_set_tax(*, whitelabel: Whitelabel, tax_rate, tax_type: str, org=None) -> TaxMapping:
    values = _checked_tax(org or organisation_options(whitelabel), tax_rate, tax_type)
    mapped, _ = TaxMapping.objects.update_or_create(
        whitelabel=whitelabel, tax_rate=values["tax_rate"], defaults={"tax_type": values["tax_type"]}
    )
    return mapped


def mapping_set_method(*, whitelabel: Whitelabel, method: str, account: str, fee_account: str = "", org=None):
    values = _checked_method(org or organisation_options(whitelabel), method, account, fee_account)
    mapped, _ = MethodMapping.objects.update_or_create(
        whitelabel=whitelabel, method=values.pop("method"), defaults=values
    )
    return mapped


def mapping_set(*, whitelabel: Whitelabel, fields: dict, org=None):
    """One change given as the command's and the CSV's fields: category=..., tax_rate=..., or method=...;
    `fields["tracking"]` is a list of "Category:Option"."""
    org = org or organisation_options(whitelabel)
    tracking = parse_tracking(fields.get("tracking") or [])
    keys = [k for k in ("category", "tax_rate", "method") if fields.get(k) not in (None, "")]
    if len(keys) != 1:
        raise MappingRefused("Name one of category=CODE, tax_rate=PERCENT or method=METHOD (" +
                             ", ".join(Payment.Method.values) + ").")
    if keys == ["category"]:
        return mapping_set_category(
            whitelabel=whitelabel, category=fields["category"], account=fields.get("account", ""), tracking=tracking,
            org=org,
        )
    if keys == ["tax_rate"]:
        return mapping_set_tax(whitelabel=whitelabel, tax_rate=fields["tax_rate"], tax_type=fields.get("tax_type", ""),
                               org=org)
    return mapping_set_method(
        whitelabel=whitelabel, method=fields["method"], account=fields.get("account", ""),
        fee_account=fields.get("fee_account", ""), org=org,
    )


def mapping_import(*, whitelabel: Whitelabel, text: str) -> int:
    """Every row of a CSV (CSV_FIELDS, as --export writes it) checked, then all saved, or none."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in ("kind", "key") if f not in (reader.fieldnames or [])]
    if missing:
        raise MappingRefused(f"The CSV needs the columns {', '.join(CSV_FIELDS)}; it lacks {', '.join(missing)}.")
    org = organisation_options(whitelabel)
    changes = []
    for number, row in enumerate(reader, start=2):
        kind = (row.get("kind") or "").strip()
        key_field = {"category": "category", "tax": "tax_rate", "method": "method"}.get(kind)
        if key_field is None:
            raise MappingRefused(f"Line {number}: kind must be category, tax or method, not {kind!r}.")
        fields = {
            key_field: (row.get("key") or "").strip(),
            "account": (row.get("account") or "").strip(),
            "fee_account": (row.get("fee_account") or "").strip(),
            "tax_type": (row.get("tax_type") or "").strip(),
            "tracking": [t for t in (row.get("tracking") or "").split(";") if t.strip()],
        }
        try:
            tracking = parse_tracking(fields["tracking"])
            if kind == "category":
                _checked_category(org, fields["category"], fields["account"], tracking)
            elif kind == "tax":
                _checked_tax(org, fields["tax_rate"], fields["tax_type"])
            else:
                _checked_method(org, fields["method"], fields["account"], fields["fee_account"])
        except MappingRefused as exc:
            raise MappingRefused(f"Line {number}: {exc}") from None
        changes.append(fields)
    with transaction.atomic():
        for fields in changes:
            mapping_set(whitelabel=whitelabel, fields=fields, org=org)
    return len(changes)


def billed_categories(whitelabel: Whitelabel) -> list[str]:
    lines = InvoiceLine.objects.filter(invoice__whitelabel=whitelabel).exclude(category="")
    notes = CreditNoteLine.objects.filter(credit_note__whitelabel=whitelabel).exclude(category="")
    distinct = [q.values_list("category", flat=True).order_by().distinct() for q in (lines, notes)]
    return sorted(set(distinct[0]) | set(distinct[1]))


def billed_rates(whitelabel: Whitelabel) -> list[Decimal]:
    lines = InvoiceLine.objects.filter(invoice__whitelabel=whitelabel)
    rates = set(lines.values_list("tax_rate", flat=True).order_by().distinct())
    return sorted({r.normalize() for r in rates} | set(DEFAULT_RATES))


@dataclass
class Row:
    kind: str  # category, tax, method
    key: str
    account: str = ""
    fee_account: str = ""
    tax_type: str = ""
    tracking: str = ""
    note: str = ""  # "default: ..." when not mapped

    def csv(self) -> list[str]:
        return [self.kind, self.key, self.account, self.fee_account, self.tax_type, self.tracking]


def mapping_rows(whitelabel: Whitelabel, *, org: Organisation | None = None) -> list[Row]:
    """The whole mapping as a table: each category mapped or billed, each tax rate billed (with the automatic
    tax type when not mapped and the organisation can say), each payment method."""
    settings = AccountingSettings.objects.filter(whitelabel=whitelabel).first()
    revenue = settings.revenue_code if settings else ""
    bank = settings.bank_account_code if settings else ""
    categories = {m.category: m for m in CategoryMapping.objects.filter(whitelabel=whitelabel)}
    taxes = {m.tax_rate.normalize(): m for m in TaxMapping.objects.filter(whitelabel=whitelabel)}
    methods = {m.method: m for m in MethodMapping.objects.filter(whitelabel=whitelabel)}
    rows = []
    for category in sorted(set(categories) | set(billed_categories(whitelabel))):
        mapped = categories.get(category)
        if mapped:
            rows.append(Row("category", category, mapped.account_code, tracking=";".join(
                f"{t['Name']}:{t['Option']}" for t in mapped.tracking or [])))
        else:
            rows.append(Row("category", category, note=f"not mapped: the revenue code {revenue or '(none)'}"))
    revenue_account = next((a for a in (org.chart if org else []) if a.code.lower() == (revenue or "").lower()), None)
    for rate in sorted(set(taxes) | set(billed_rates(whitelabel))):
        mapped = taxes.get(rate)
        if mapped:
            rows.append(Row("tax", coding.percent(rate), tax_type=mapped.tax_type))
            continue
        automatic = ""
        if org is not None and revenue_account is not None:
            try:
                automatic = mapping.tax_type(
                    rate=rate, account_tax_type=revenue_account.tax_type, rates=org.rates, organisation=org.name
                )
            except MappingError:
                automatic = "(none in Xero)"
        rows.append(Row("tax", coding.percent(rate), note=f"not mapped: by effective rate {automatic}".rstrip()))
    for method in Payment.Method.values:
        mapped = methods.get(method)
        if mapped:
            rows.append(Row("method", method, mapped.account_code, fee_account=mapped.fee_account_code))
        else:
            rows.append(Row("method", method, note=f"not mapped: the bank account {bank or '(none)'}, no fee account"))
    return rows


def mapping_export(whitelabel: Whitelabel) -> str:
    """The mapped rows as CSV (CSV_FIELDS), which --import reads back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in mapping_rows(whitelabel):
        if not row.note:
            writer.writerow(row.csv())
    return out.getvalue()


def mapping_clear(*, whitelabel: Whitelabel, kind: str, key: str) -> int:
    """Remove one mapping (back to the settings page's defaults)."""
    if kind == "category":
        rows = CategoryMapping.objects.filter(category=key)
    elif kind == "tax":
        rows = TaxMapping.objects.filter(tax_rate=_rate(key))
    else:
        rows = MethodMapping.objects.filter(method=key)
    deleted, _ = rows.filter(whitelabel=whitelabel).delete()
    return deleted


def mapping_context(whitelabel: Whitelabel, connection: XeroConnection | None) -> dict:
    """What the Mapping section shows: each row (defaults included), and the choices of its form. It calls
    Xero for nothing (a change is checked when it is saved)."""
    if connection is None or not connection.is_active:
        return {"connected": False}
    options = MappingOptions.objects.filter(whitelabel=whitelabel).first()
    return {
        "connected": True,
        "rows": mapping_rows(whitelabel),
        "methods": Payment.Method.choices,
        "daily_summary": bool(options and options.daily_summary),
    }
