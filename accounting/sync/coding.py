"""Where each line and each payment goes in Xero under the whitelabel's mapping (issue 20): a line's
category picks its revenue account and tracking, its tax rate the tax type, a payment's method the account
its money is deposited to and the account its gateway fee goes to. Unmapped values fall back to the
settings page (Revenue code, Bank account) and to the tax type chosen by effective rate, as before.

The checks (`*_problem`) are pure functions over what the organisation lists, shared by the settings page,
`manage.py xero_mapping` and the send (where a mapping Xero would refuse fails the record without a call).
"""

from collections.abc import Iterable
from decimal import Decimal
from functools import cached_property

from ..connection import ChartAccount, chart_for_sending
from ..errors import MappingError
from ..mapping_models import CategoryMapping, MappingOptions, MethodMapping, TaxMapping
from . import mapping
from .protocol import Run, known_tax_rates

EXPENSE_TYPES = ("EXPENSE", "OVERHEADS", "DIRECTCOSTS")
MAX_TRACKING = 2


def percent(rate: Decimal) -> str:
    text = f"{Decimal(rate).normalize():f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# The checks ------------------------------------------------------------------------------------------


def revenue_account_problem(code: str, chart: Iterable[ChartAccount]) -> str | None:
    return mapping.setting_problem("revenue_code", code, chart)


def deposit_account_problem(code: str, chart: Iterable[ChartAccount]) -> str | None:
    return mapping.setting_problem("bank_account_code", code, chart)


def fee_account_problem(code: str, chart: Iterable[ChartAccount]) -> str | None:
    chart = list(chart)
    usable = [a for a in chart if a.status == "ACTIVE" and a.type in EXPENSE_TYPES]
    valid = ", ".join(a.code for a in usable) or "none"
    match = next((a for a in chart if a.code.lower() == code.lower()), None)
    if match is None:
        return f"Xero has no account with code {code}. Fee accounts you can use: {valid}."
    if match.status != "ACTIVE":
        return f"Account {match.label} is archived in Xero. Use one of: {valid}."
    if match not in usable:
        return f"Account {match.label} is not an expense account. Use one of: {valid}."
    return None


def _active_tracking(categories: Iterable[dict]) -> list[dict]:
    return [c for c in categories if (c.get("Status") or "ACTIVE") == "ACTIVE"]


def _options(category: dict) -> list[str]:
    return [o.get("Name", "") for o in category.get("Options") or [] if (o.get("Status") or "ACTIVE") == "ACTIVE"]


def tracking_choices(categories: Iterable[dict]) -> str:
    active = _active_tracking(categories)
    if not active:
        return "the organisation has no active tracking categories"
    return "; ".join(f"{c.get('Name')}: {', '.join(_options(c)) or 'no active options'}" for c in active)


def tracking_problem(tracking: list[dict], categories: Iterable[dict]) -> str | None:
    """Why Xero would refuse these tracking options ([{"Name": ..., "Option": ...}]), naming the valid ones."""
    categories = list(categories)
    valid = f"Active tracking options: {tracking_choices(categories)}."
    if len(tracking) > MAX_TRACKING:
        return f"A line can carry at most {MAX_TRACKING} tracking options (one per category). {valid}"
    seen = set()
    for pair in tracking:
        name, option = pair.get("Name", ""), pair.get("Option", "")
        category = next((c for c in categories if c.get("Name", "").lower() == name.lower()), None)
        if category is None or (category.get("Status") or "ACTIVE") != "ACTIVE":
            state = "no" if category is None else "an archived"
            return f"Xero has {state} tracking category '{name}'. {valid}"
        if name.lower() in seen:
            return f"Tracking category '{name}' is named twice; a line takes one option per category. {valid}"
        seen.add(name.lower())
        if option.lower() not in {o.lower() for o in _options(category)}:
            return f"Tracking category '{name}' has no active option '{option}'. {valid}"
    return None


def canonical_tracking(tracking: list[dict], categories: Iterable[dict]) -> list[dict]:
    """The tracking as Xero spells it (names matched without regard to case)."""
    categories = list(categories)
    result = []
    for pair in tracking:
        category = next(c for c in categories if c.get("Name", "").lower() == pair["Name"].lower())
        option = next(o for o in _options(category) if o.lower() == pair["Option"].lower())
        result.append({"Name": category["Name"], "Option": option})
    return result


def tax_type_problem(tax_type: str, rate: Decimal, rates: list[mapping.TaxRate]) -> str | None:
    """Why `tax_type` can't carry Arena's `rate` on sales: unknown, archived, not for revenue, or another rate."""
    wanted = Decimal(rate).normalize()
    usable = [r for r in rates if r.active and r.for_revenue and r.rate == wanted]
    valid = ", ".join(f"{r.tax_type} ({r.name})" for r in usable) or "none: create one in Xero"
    match = next((r for r in rates if r.tax_type.lower() == tax_type.lower()), None)
    if match is None:
        return f"Xero has no tax type {tax_type}. Tax types for {percent(rate)}% sales: {valid}."
    if not match.active:
        return f"Tax type {match.tax_type} ({match.name}) is archived in Xero. Use one of: {valid}."
    if not match.for_revenue:
        return f"Tax type {match.tax_type} ({match.name}) can't be used on sales. Use one of: {valid}."
    if match.rate != wanted:
        return (
            f"Tax type {match.tax_type} ({match.name}) is {percent(match.rate)}%, not {percent(rate)}%. "
            f"Use one of: {valid}."
        )
    return None


# At send time ----------------------------------------------------------------------------------------


class WhitelabelMapping:
    """The whitelabel's mapping, each part read on first use (one query each), then kept for the run."""

    def __init__(self, whitelabel_id: int):
        self.whitelabel_id = whitelabel_id

    @cached_property
    def categories(self) -> dict[str, CategoryMapping]:
        return {m.category: m for m in CategoryMapping.objects.filter(whitelabel_id=self.whitelabel_id)}

    @cached_property
    def taxes(self) -> dict[Decimal, TaxMapping]:
        return {m.tax_rate.normalize(): m for m in TaxMapping.objects.filter(whitelabel_id=self.whitelabel_id)}

    @cached_property
    def methods(self) -> dict[str, MethodMapping]:
        return {m.method: m for m in MethodMapping.objects.filter(whitelabel_id=self.whitelabel_id)}

    @cached_property
    def options(self) -> MappingOptions | None:
        return MappingOptions.objects.filter(whitelabel_id=self.whitelabel_id).first()


def run_mapping(run: Run) -> WhitelabelMapping:
    """The whitelabel's mapping for this run (each part read once, when first needed)."""
    if "mapping" not in run._settings:
        run._settings["mapping"] = WhitelabelMapping(run.whitelabel.pk)
    return run._settings["mapping"]


def _refused(run: Run, what: str, problem: str) -> MappingError:
    return MappingError(
        f"{what} on the Accounting System Settings page can't be used with {run.organisation}: {problem}"
    )


def line_codes(run: Run, lines) -> list[dict]:
    """Each line's AccountCode, TaxType and (when mapped) Tracking. MappingError, naming the mapping to fix,
    when Xero would refuse one."""
    chart = run.organisation_setting("chart", chart_for_sending)
    rates = known_tax_rates(run)
    mapped = run_mapping(run)
    codes = []
    for line in lines:
        category = mapped.categories.get(line.category) if line.category else None
        code = category.account_code if category else run.accounting.revenue_code
        if category is not None and (problem := revenue_account_problem(code, chart)):
            raise _refused(run, f"The mapping of category {line.category} (account {code})", problem)
        account = next((a for a in chart if a.code.lower() == code.lower()), None)
        if account is None:
            raise MappingError(
                f"{run.organisation} has no account {code}: choose a revenue code on the Accounting System "
                "Settings page."
            )
        rate = line.tax_rate.normalize()
        tax = mapped.taxes.get(rate)
        if tax is not None:
            if problem := tax_type_problem(tax.tax_type, rate, rates):
                raise _refused(run, f"The mapping of tax rate {percent(rate)}% ({tax.tax_type})", problem)
            tax_type = tax.tax_type
        else:
            tax_type = mapping.tax_type(
                rate=rate, account_tax_type=account.tax_type, rates=rates, organisation=run.organisation
            )
        entry = {"AccountCode": account.code, "TaxType": tax_type}
        if category is not None and category.tracking:
            entry["Tracking"] = [{"Name": t["Name"], "Option": t["Option"]} for t in category.tracking]
        codes.append(entry)
    return codes


def deposit_code(run: Run, method: str) -> str:
    """The account money taken by `method` is deposited to: its mapping, else the settings page's bank account."""
    mapped = run_mapping(run).methods.get(method)
    return mapped.account_code if mapped else run.accounting.bank_account_code


def deposit_problem(run: Run, method: str) -> str:
    """Why the deposit account of `method` can't be used ("" when it can)."""
    mapped = run_mapping(run).methods.get(method)
    if mapped is None:
        return ""
    chart = run.organisation_setting("chart", chart_for_sending)
    problem = deposit_account_problem(mapped.account_code, chart)
    if not problem:
        return ""
    return str(_refused(run, f"The mapping of payment method {method} (account {mapped.account_code})", problem))


def fee_code(run: Run, method: str) -> str:
    mapped = run_mapping(run).methods.get(method)
    return mapped.fee_account_code if mapped else ""


def in_daily_summary(run: Run, payment) -> bool:
    """Whether a pre-paid payment's receipt goes to Xero in a daily summary (accounting/summaries.py) instead."""
    options = run_mapping(run).options
    if options is None or not options.daily_summary or options.summary_since is None:
        return False
    return payment.received_at >= options.summary_since
