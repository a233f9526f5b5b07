"""What the README's *A first tour* quotes from the pages, word for word: the browser tests expect exactly these
texts on the pages (test_browser_flow.py), and test_readme_tour.py finds each of them in the README."""

CONSENT_HEADING = "Arena Billing wants access to:"
ORGANISATION_1 = "AU · AUD · GST 10%"
ORGANISATION_2 = "NZ · NZD · GST 15%"
CONNECTED = (
    "Connected to Xero organisation Organisation 1. Now choose the bank account payments are deposited to, and "
    "Save. 9 records billed while Arena was not connected are not in Xero yet: send them with the button below."
)
SAVED = "Accounting system settings saved."
SEND = "Send 9 unsent records to Xero"
SENDING = "9 records will be sent to Xero: the card below shows them arrive."
LOGGED_OUT = "You have logged out."
UNPAID = "INV-000002"  # the demo's unpaid invoice, voided in step 6
VOIDED = "Invoice voided."
CHANGED_IN_XERO = (
    f"Changed in Xero: 1 record was changed by a person in Xero after Arena sent it (Invoice {UNPAID}: Voided in "
    "Xero after Arena sent it; Arena still bills it). Arena does not overwrite changes made in Xero; support can "
    "review them."
)
QUOTED = (CONSENT_HEADING, ORGANISATION_1, ORGANISATION_2, CONNECTED, SAVED, SEND, SENDING, LOGGED_OUT, VOIDED,
          CHANGED_IN_XERO)
