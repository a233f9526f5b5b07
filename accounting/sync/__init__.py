"""The sync engine: the outbox (outbox.py), what each record becomes in Xero (payloads.py), and the
loop that claims records per organisation and sends them in batches (engine.py)."""
