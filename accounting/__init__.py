"""The Xero integration: settings page, connection, outbox of sync records, signals, tasks, admin.

Only accounting/xero/ talks to Xero.
"""
