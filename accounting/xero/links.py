"""Links that open a record in Xero's own web app (go.xero.com), as Xero documents its deep links: with the
organisation's short code (from GET /Organisation), Xero switches to that organisation first; without
one, the link opens in whichever organisation the user has open in Xero. Nothing here calls Xero.

    https://go.xero.com/organisationlogin/default.aspx?shortcode=!a1B2c&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=<id>
"""

from urllib.parse import quote

GO_XERO = "https://go.xero.com"

# What a link can open, and the path Xero's web app shows it at.
PATHS = {
    "invoice": "/AccountsReceivable/View.aspx?InvoiceID={id}",
    "contact": "/Contacts/View/{id}",
    "credit_note": "/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={id}",
    # Payments, receipts (RECEIVE) and overpayments (RECEIVE-OVERPAYMENT) are bank transactions there.
    "transaction": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
}


def deep_link(what: str, xero_id: str, *, short_code: str = "") -> str:
    """The go.xero.com link to the `what` ("invoice", "contact", "credit_note", "transaction") with id `xero_id`."""
    path = PATHS[what].format(id=quote(xero_id, safe=""))
    if not short_code:
        return GO_XERO + path
    return f"{GO_XERO}/organisationlogin/default.aspx?shortcode={quote(short_code, safe='!')}&redirecturl={path}"
