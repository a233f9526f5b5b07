"""Links that open a record in Xero's own web app, as Xero documents its deep links: with the organisation's
short code (from GET /Organisation), Xero switches to that organisation first; without one, the link opens in
whichever organisation the user has open in Xero. Nothing here calls Xero.

    https://go.xero.com/organisationlogin/default.aspx?shortcode=!a1B2c&redirecturl=/AccountsReceivable/View.aspx?InvoiceID=<id>

The web app's address is XERO_WEB_URL: Xero's (https://go.xero.com) unless the app talks to a Xero sandbox,
which answers the same links with a page showing the record.
"""

from urllib.parse import quote

from django.conf import settings

# What a link can open, and the path Xero's web app shows it at.
PATHS = {
    "invoice": "/AccountsReceivable/View.aspx?InvoiceID={id}",
    "contact": "/Contacts/View/{id}",
    "credit_note": "/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={id}",
    # Payments, receipts (RECEIVE) and overpayments (RECEIVE-OVERPAYMENT) are bank transactions there.
    "transaction": "/Bank/ViewTransaction.aspx?bankTransactionID={id}",
}


def deep_link(what: str, xero_id: str, *, short_code: str = "") -> str:
    """The link to the `what` ("invoice", "contact", "credit_note", "transaction") with id `xero_id` in Xero's
    web app."""
    web = settings.XERO_WEB_URL.rstrip("/")
    path = PATHS[what].format(id=quote(xero_id, safe=""))
    if not short_code:
        return web + path
    return f"{web}/organisationlogin/default.aspx?shortcode={quote(short_code, safe='!')}&redirecturl={path}"
