"""Read-only settings: the organisation, chart of accounts, tax rates and currencies."""
from ..models import Account, OrgBook, TaxRate, TrackingCategory
from ..seed import CURRENCY_NAMES
from .common import drop_none, maybe_date, stamp

FINANCIAL_YEAR_END = {"AU": (30, 6), "NZ": (31, 3)}


def organisation_json(book: OrgBook) -> dict:
    org = book.organisation
    day, month = FINANCIAL_YEAR_END.get(org.country_code, (31, 12))
    return drop_none({
        "OrganisationID": org.organisation_id,
        "APIKey": org.short_code.strip("!").upper(),
        "Name": org.name,
        "LegalName": org.legal_name,
        "PaysTax": True,
        "Version": org.country_code,
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "TaxNumber": org.tax_number,
        "FinancialYearEndDay": day,
        "FinancialYearEndMonth": month,
        "SalesTaxBasis": org.sales_tax_basis,
        "SalesTaxPeriod": org.sales_tax_period,
        "DefaultSalesTax": org.default_sales_tax,
        "DefaultPurchasesTax": org.default_purchases_tax,
        "CreatedDateUTC": stamp(org.created_utc),
        "OrganisationEntityType": "COMPANY",
        "Timezone": org.timezone,
        "ShortCode": org.short_code,
        "Edition": "BUSINESS",
        "Class": org.plan,
        "LineOfBusiness": org.line_of_business,
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
        "PeriodLockDate": maybe_date(org.period_lock_date),
        "EndOfYearLockDate": maybe_date(org.end_of_year_lock_date),
    })


def account_json(account: Account) -> dict:
    return drop_none({
        "AccountID": account.account_id,
        "Code": account.code,
        "Name": account.name,
        "Status": account.status,
        "Type": account.type,
        "TaxType": account.tax_type,
        "Description": account.description,
        "Class": account.account_class,
        "SystemAccount": account.system_account,
        "EnablePaymentsToAccount": account.enable_payments_to_account,
        "ShowInExpenseClaims": False,
        "BankAccountNumber": account.bank_account_number,
        "BankAccountType": account.bank_account_type or "",
        "CurrencyCode": account.currency_code,
        "ReportingCode": account.reporting_code,
        "HasAttachments": False,
        "UpdatedDateUTC": stamp(account.updated_utc),
        "AddToWatchlist": False,
    })


def tax_rate_json(rate: TaxRate) -> dict:
    return {
        "Name": rate.name,
        "TaxType": rate.tax_type,
        "ReportTaxType": rate.report_tax_type,
        "CanApplyToAssets": rate.can_apply_to_assets,
        "CanApplyToEquity": rate.can_apply_to_equity,
        "CanApplyToExpenses": rate.can_apply_to_expenses,
        "CanApplyToLiabilities": rate.can_apply_to_liabilities,
        "CanApplyToRevenue": rate.can_apply_to_revenue,
        "DisplayTaxRate": rate.rate,
        "EffectiveRate": rate.rate,
        "Status": rate.status,
        "TaxComponents": [
            {"Name": rate.component_name, "Rate": rate.rate, "IsCompound": False, "IsNonRecoverable": False}
        ],
    }


def currency_json(code: str) -> dict:
    return {"Code": code, "Description": CURRENCY_NAMES.get(code, code)}


def tracking_category_json(category: TrackingCategory, *, include_archived: bool = False) -> dict:
    return {
        "TrackingCategoryID": category.tracking_category_id,
        "Name": category.name,
        "Status": category.status,
        "Options": [
            {"TrackingOptionID": o.tracking_option_id, "Name": o.name, "Status": o.status}
            for o in category.options
            if include_archived or o.status == "ACTIVE"
        ],
    }
