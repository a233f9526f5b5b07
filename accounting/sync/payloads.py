"""What each Arena record becomes in Xero, in Xero's wire shape (the payload stored on the record).

Dates are the whitelabel's local dates (`tz`): a moment becomes the calendar date the whitelabel's
books show for it.
"""

import datetime
from decimal import Decimal

from payments.models import Allocation, CreditNote, Customer, Invoice, Payment, Receipt, Refund, RefundPart

from ..xero.client import xero_date


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def unit_price(value: Decimal) -> str:
    """A unit price to four decimal places where it has them ("0.0125"), else two ("49.00"); the documents
    that carry one are sent with unitdp=4, so Xero keeps them."""
    four = value.quantize(Decimal("0.0001"))
    return money(four) if four == four.quantize(Decimal("0.01")) else str(four)


def contact(customer: Customer, *, name: str, xero_id: str = "") -> dict:
    data = {"ContactNumber": customer.account_number, "Name": name, "EmailAddress": customer.email}
    if xero_id:
        data["ContactID"] = xero_id
    if customer.phone:
        data["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": customer.phone}]
    if customer.address:
        lines = customer.address.splitlines()
        data["Addresses"] = [
            {"AddressType": "POBOX", **{f"AddressLine{i + 1}": line for i, line in enumerate(lines[:4])}}
        ]
    return data


def coded_lines(lines, *, codes: list[dict]) -> list[dict]:
    """An invoice's or credit note's lines with Arena's tax, each on its account, Xero tax type and tracking
    (`codes`, one per line: AccountCode, TaxType and maybe Tracking; see coding.line_codes)."""
    return [
        {
            "Description": line.description,
            "Quantity": str(line.quantity.normalize()),
            "UnitAmount": unit_price(line.unit_amount),
            "AccountCode": code["AccountCode"],
            "TaxType": code["TaxType"],
            "TaxAmount": money(line.tax_amount),
            **({"Tracking": code["Tracking"]} if code.get("Tracking") else {}),
        }
        for line, code in zip(lines, codes, strict=True)
    ]


def invoice(invoice: Invoice, *, contact_id: str, lines, codes: list[dict]) -> dict:
    """`lines`: the invoice's lines; `codes`: where each goes in Xero (coding.line_codes)."""
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": invoice.number,
        "Date": xero_date(invoice.issue_date),
        "DueDate": xero_date(invoice.due_date),
        "CurrencyCode": invoice.currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": coded_lines(lines, codes=codes),
    }


def invoice_void(invoice_id: str) -> dict:
    return {"InvoiceID": invoice_id, "Status": "VOIDED"}


def payment_reference(allocation: Allocation) -> str:
    return f"{allocation.payment.receipt.number} {allocation.invoice.number}"


def payment(allocation: Allocation, *, invoice_id: str, bank_code: str, tz: datetime.tzinfo) -> dict:
    return {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": bank_code},
        "Date": xero_date(allocation.payment.received_at, tz),
        "Amount": money(allocation.amount),
        "Reference": payment_reference(allocation),
    }


def overpayment_amount(payment: Payment) -> Decimal:
    """What the money left as credit when it came in."""
    paid = sum((a.amount for a in payment.allocations.all() if a.source == Allocation.Source.PAYMENT), Decimal("0"))
    return payment.amount - paid


def overpayment_description(payment: Payment) -> str:
    """The overpayment's one line: how a lost answer is recognised (Xero keeps no Reference on it)."""
    return f"Credit from receipt {payment.receipt.number}"


def overpayment(payment: Payment, *, contact_id: str, bank_code: str, tz: datetime.tzinfo) -> dict:
    return {
        "Type": "RECEIVE-OVERPAYMENT",
        "Contact": {"ContactID": contact_id},
        "BankAccount": {"Code": bank_code},
        "Date": xero_date(payment.received_at, tz),
        "Reference": payment.receipt.number,
        "CurrencyCode": payment.currency,
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {
                "Description": overpayment_description(payment),
                "Quantity": "1",
                "UnitAmount": money(overpayment_amount(payment)),
            }
        ],
    }


def credit_allocation(allocation: Allocation, *, invoice_id: str, tz: datetime.tzinfo) -> dict:
    return allocation_to_invoice(allocation.amount, invoice_id=invoice_id, at=allocation.allocated_at, tz=tz)


def _bank_transaction(
    type_: str, *, number: str, description: str, amount: Decimal, currency: str, at, contact_id: str,
    bank_code: str, account_code: str, tax_type: str, tz: datetime.tzinfo,
) -> dict:
    """Pre-paid money in (RECEIVE) or out (SPEND) of the bank account, on the revenue account, tax included,
    with Arena's number as its reference."""
    return {
        "Type": type_,
        "Contact": {"ContactID": contact_id},
        "BankAccount": {"Code": bank_code},
        "Date": xero_date(at, tz),
        "Reference": number,
        "CurrencyCode": currency,
        "LineAmountTypes": "Inclusive",
        "LineItems": [
            {
                "Description": description,
                "Quantity": "1",
                "UnitAmount": money(amount),
                "AccountCode": account_code,
                "TaxType": tax_type,
            }
        ],
    }


def receipt(receipt: Receipt, **accounts) -> dict:
    """A top-up's receipt: `accounts` are contact_id, bank_code, account_code, tax_type and tz."""
    payment, number = receipt.payment, receipt.number
    description = f"Receipt {number} ({payment.get_method_display()})"
    money_in = {"amount": payment.amount, "currency": payment.currency, "at": payment.received_at}
    return _bank_transaction("RECEIVE", number=number, description=description, **money_in, **accounts)


def credit_note(note: CreditNote, *, contact_id: str, lines, codes: list[dict]) -> dict:
    return {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "CreditNoteNumber": note.number,
        "Reference": f"{note.invoice.number}: {note.reason}"[:255],
        "Date": xero_date(note.issue_date),
        "CurrencyCode": note.currency,
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": coded_lines(lines, codes=codes),
    }


def allocation_to_invoice(amount: Decimal, *, invoice_id: str, at: datetime.datetime, tz: datetime.tzinfo) -> dict:
    """Credit (an overpayment's or a credit note's) applied to an invoice."""
    return {"Invoice": {"InvoiceID": invoice_id}, "Amount": money(amount), "Date": xero_date(at, tz)}


def refund_reference(part: RefundPart) -> str:
    """How a refund's payment is found again: the refund receipt and the credit it paid back."""
    source = part.payment.receipt.number if part.payment_id else part.credit_note.number
    return f"{part.refund.number} {source}"


def refund(part: RefundPart, *, credit: dict, bank_code: str, tz: datetime.tzinfo) -> dict:
    """A refund of an overpayment or a credit note: a payment naming the credit (`credit`, e.g.
    {"Overpayment": {"OverpaymentID": ...}}) out of the bank account."""
    return {
        **credit,
        "Account": {"Code": bank_code},
        "Date": xero_date(part.refund.refunded_at, tz),
        "Amount": money(part.amount),
        "Reference": refund_reference(part),
    }


def refund_receipt(refund: Refund, **accounts) -> dict:
    """Pre-paid: the money paid back, as a SPEND from the bank account with the refund receipt's number."""
    description = f"Refund {refund.number} ({refund.get_method_display()})"
    money_out = {"amount": refund.amount, "currency": refund.currency, "at": refund.refunded_at}
    return _bank_transaction("SPEND", number=refund.number, description=description, **money_out, **accounts)


def bank_transaction_deletion(sent: dict, bank_transaction_id: str) -> dict:
    """What Xero's schema wants to delete a bank transaction: the one sent, by its id."""
    keep = ("Type", "Contact", "BankAccount", "LineItems", "LineAmountTypes", "Date", "Reference", "CurrencyCode")
    return {"BankTransactionID": bank_transaction_id, **{k: v for k, v in sent.items() if k in keep}}


def gateway_fee_reference(payment: Payment) -> str:
    """How a fee's Spend Money is found again: "FEE RCT-000042"."""
    return f"FEE {payment.receipt.number}"


def gateway_fee(
    payment: Payment, *, payee: str, bank_code: str, fee_code: str, tax_type: str, tz: datetime.tzinfo
) -> dict:
    """What the gateway kept of a payment: a Spend Money from the account the payment went into (gross), to
    the fee account, paid to the gateway (`payee`, a contact Xero finds or creates by name)."""
    line = {
        "Description": f"{payment.get_method_display()} fee on receipt {payment.receipt.number}",
        "Quantity": "1",
        "UnitAmount": money(payment.fee),
        "AccountCode": fee_code,
    }
    if tax_type:
        line["TaxType"] = tax_type
    return {
        "Type": "SPEND",
        "Contact": {"Name": payee},
        "BankAccount": {"Code": bank_code},
        "Date": xero_date(payment.received_at, tz),
        "Reference": gateway_fee_reference(payment),
        "CurrencyCode": payment.currency,
        "LineAmountTypes": "Inclusive",
        "LineItems": [line],
    }


def daily_summary(summary, *, bank_code: str, account_code: str, tax_type: str, tz: datetime.tzinfo) -> dict:
    """A day's pre-paid receipts of one payment method as one Receive Money (its lines: the receipts, and the
    reversals of top-ups of earlier days as a negative line); a Spend Money if reversals outweigh them."""
    net = summary.total_in - summary.total_reversed
    sign = Decimal("1") if net >= 0 else Decimal("-1")
    lines = []
    if summary.receipts:
        lines.append((f"Receipts {summary.first_receipt} to {summary.last_receipt} ({summary.receipts})",
                      summary.total_in))
    if summary.total_reversed:
        lines.append((f"Reversed: {summary.reversed_receipts}"[:4000], -summary.total_reversed))
    return {
        "Type": "RECEIVE" if net >= 0 else "SPEND",
        "Contact": {"Name": f"{summary.get_method_display()} receipts (daily summary)"},
        "BankAccount": {"Code": bank_code},
        "Date": xero_date(summary.day),
        "Reference": summary.number,
        "CurrencyCode": summary.currency,
        "LineAmountTypes": "Inclusive",
        "LineItems": [
            {"Description": text, "Quantity": "1", "UnitAmount": money(amount * sign), "AccountCode": account_code,
             "TaxType": tax_type}
            for text, amount in lines
        ],
    }
