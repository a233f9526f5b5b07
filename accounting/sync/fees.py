"""Gateway fees (issue 20): a payment or top-up taken with a fee goes to Xero gross, into its method's
account; what the gateway kept is one Spend Money from that account to the method's fee account."""

from payments.models import Payment, PaymentGatewaySettings

from ..connection import chart_for_sending
from ..models import SyncRecord
from ..xero import client
from . import coding, kinds, outbox, payloads
from .money import deposit_code_or_fail
from .protocol import Item, Run, fail_without_call, loaded, look_up_unclear, send, skip_reversed

Kind = SyncRecord.Kind


def payee(run: Run, method: str) -> str:
    """Who kept the fee: the card gateway (its provider's name), else the method's own provider."""
    if method == Payment.Method.CARD:
        gateway = PaymentGatewaySettings.objects.filter(whitelabel=run.whitelabel).first()
        if gateway is not None:
            return f"{gateway.get_provider_display()} (payment gateway)"
        return "Card payment gateway"
    return f"{Payment.Method(method).label} provider"


@kinds.sender(Kind.GATEWAY_FEE)
def sync_gateway_fees(run: Run, records: list[SyncRecord]) -> None:
    records, payments = loaded(records, Payment.objects.select_related("receipt"))
    chart = run.organisation_setting("chart", chart_for_sending)
    items = []
    for record in records:
        payment = payments[record.object_id]
        fee_code = coding.fee_code(run, payment.method)
        if not fee_code:
            outbox.record_skip(
                record,
                reason=f"No fee account is mapped for {payment.get_method_display().lower()} payments: the payment "
                "went to Xero gross and its fee is left for the accountant.",
            )
            continue
        if problem := coding.fee_account_problem(fee_code, chart):
            fail_without_call(
                run,
                record,
                f"The fee account {fee_code} of payment method {payment.method} on the Accounting System Settings "
                f"page can't be used with {run.organisation}: {problem}",
            )
            continue
        bank_code = deposit_code_or_fail(run, record, payment.method)
        if not bank_code:
            continue
        account = next(a for a in chart if a.code.lower() == fee_code.lower())
        body = payloads.gateway_fee(
            payment, payee=payee(run, payment.method), bank_code=bank_code, fee_code=account.code,
            tax_type=account.tax_type, tz=run.tz,
        )
        items.append(Item(record, body, payloads.gateway_fee_reference(payment)))
    items = look_up_unclear(run, items, client.bank_transactions_find, "Reference", "BankTransactionID")
    items = skip_reversed(items, {pk for pk, p in payments.items() if p.reversed_at})
    send(run, items, "gateway-fees", client.bank_transactions_create, "BankTransactionID")
