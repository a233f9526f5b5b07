"""The only code that talks to Xero: OAuth (requests-oauthlib) in oauth.py, the API (xero-python) in
client.py, and the sorting of failures in errors.py."""
