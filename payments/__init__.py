"""Arena's billing side: whitelabels, customers, invoices, payments, receipts and gateway settings.

This app knows nothing of Xero; the accounting app listens to its signals.
"""
